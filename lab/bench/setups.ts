/**
 * The setups a benchmark run measures side by side, each started through the launcher's own code:
 * the four-replica cluster behind nginx with one Redis (`cluster`, the reference), the same behind
 * HAProxy, the same with each feature switched off in turn (server/config.ts: MESSAGE_LOG, PRESENCE,
 * GUARDS, METRICS, POSITION_INTERVAL_MS), with the sharded adapter on one Redis, on a three-shard
 * Redis Cluster, and, when asked, running the server of another commit (lab/bench/baseline.ts).
 * The rate limit is lifted everywhere: the load generators send far faster than people type.
 * Every replica runs with its inspector on a loopback port, which the bench uses to collect
 * garbage before reading memory and to profile (lab/bench/inspector.ts).
 */
import { readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, WITHOUT_RATE_LIMIT, type Front } from '../cluster/cluster.js';
import { replaceRequired } from '../cluster/nginx-conf.js';
import { NGINX_CONF_PATH, PROJECT_ROOT } from '../cluster/topology.js';

interface SetupDefinition {
  /** What it measures, for the report. */
  about: string;
  front?: Front;
  /** Environment of every replica, on top of the benchmark's own. */
  env?: NodeJS.ProcessEnv;
  redisCluster?: boolean;
  /** Runs the baseline's server (`--baseline`). */
  baseline?: boolean;
  /** Also runs the rooms scenario (the plain chat of a baseline has no rooms). */
  rooms?: boolean;
  /** Also runs one replica at saturation: where a feature's or a version's cost per delivery shows most. */
  saturation?: boolean;
}

export const SETUP_DEFINITIONS = {
  cluster: { about: 'four replicas behind nginx, one Redis, classic adapter: the reference', rooms: true, saturation: true },
  'cluster-baseline': { about: 'the same, running the server of --baseline', baseline: true, saturation: true },
  'cluster-haproxy': { about: 'the reference behind HAProxy instead of nginx', front: 'haproxy' },
  'no-log': {
    about: "the reference with each replica's in-memory log in place of the Redis Stream (MESSAGE_LOG=memory)",
    env: { MESSAGE_LOG: 'memory' },
    saturation: true,
  },
  'no-presence': { about: 'the reference without presence (PRESENCE=off)', env: { PRESENCE: 'off' }, saturation: true },
  'no-guards': { about: 'the reference without the rate limit and the slow-reader guard (GUARDS=off)', env: { GUARDS: 'off' }, saturation: true },
  'no-metrics': { about: 'the reference without metrics (METRICS=off)', env: { METRICS: 'off' }, saturation: true },
  'no-positions': { about: 'the reference without position announcements (POSITION_INTERVAL_MS=0)', env: { POSITION_INTERVAL_MS: '0' }, saturation: true },
  'cluster-sharded': {
    about: 'the reference with the sharded adapter (REDIS_ADAPTER=sharded), still one Redis',
    env: { REDIS_ADAPTER: 'sharded' },
    rooms: true,
  },
  'redis-cluster': { about: 'the sharded adapter on a Redis Cluster of three primaries with a replica each', redisCluster: true, rooms: true },
} satisfies Record<string, SetupDefinition>;

export type SetupName = keyof typeof SETUP_DEFINITIONS;
export const SETUP_NAMES = Object.keys(SETUP_DEFINITIONS) as SetupName[];

export interface RunningSetup {
  name: SetupName;
  definition: SetupDefinition;
  /** Where the load generators connect: the front. */
  url: string;
  /** Each replica: its own address (for the latency probes), its process and its log (where its inspector's address is). */
  replicas: { number: number; url: string; pid: number; logFile: string }[];
  front: { kind: Front; pid: number };
  /** Every Redis process, and how to reach it (the benchmark counts their work). */
  redis: { url: string; pid: number; port: number }[];
  stop(): Promise<void>;
}

/** Each setup stops with no clients left: its replicas' graceful stop need not spread anything over seconds. */
const QUICK_STOP: NodeJS.ProcessEnv = { DRAIN_SPREAD_MS: '1', DRAIN_CLOSE_GRACE_MS: '100' };

/**
 * The real nginx.conf with four workers, whatever the cores. A process here may hold at most 20,000
 * file descriptors (a hard limit even root cannot raise), and a proxied WebSocket holds two in
 * nginx: many thousands of clients over two workers would need more than that each.
 */
function withFourWorkers(conf: string): string {
  return replaceRequired(conf, /^worker_processes auto;$/m, () => 'worker_processes 4;', '`worker_processes auto`');
}

/** HAProxy runs in the foreground as a child of this process: found by its parent and its name. */
function childNamed(name: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (new RegExp(`^Name:\\s+${name}$`, 'm').test(status) && Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) === process.pid) return Number(entry);
    } catch {
      // ended meanwhile
    }
  }
  throw new Error(`no ${name} process started by this one`);
}

/** `baselineEntry`: the baseline's program, for `cluster-baseline`. */
export async function startSetup(name: SetupName, basePort: number, baselineEntry?: string): Promise<RunningSetup> {
  const definition: SetupDefinition = SETUP_DEFINITIONS[name];
  const dir = join(PROJECT_ROOT, '.cluster', `bench-${basePort}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const front = definition.front ?? 'nginx';
  const cluster = await startCluster({
    basePort,
    stateDir: dir,
    front,
    replicaEnv: { ...WITHOUT_RATE_LIMIT, ...QUICK_STOP, ...definition.env, NODE_OPTIONS: '--inspect=127.0.0.1:0' },
    nginxConf: withFourWorkers(readFileSync(NGINX_CONF_PATH, 'utf8')),
    replicaEntry: definition.baseline ? baselineEntry : undefined,
    redisCluster: definition.redisCluster,
  });
  const redis = cluster.redisCluster
    ? cluster.ports.redisCluster.map((port, n) => ({ url: cluster.redisCluster!.urls[n]!, pid: cluster.redisCluster!.node(port).pid, port }))
    : [{ url: cluster.redisUrl!, pid: cluster.redis!.pid, port: cluster.ports.redis }];
  return {
    name,
    definition,
    url: cluster.url,
    replicas: cluster.replicas.map((replica) => ({ number: replica.number, url: replica.url, pid: replica.process.pid, logFile: replica.process.logFile })),
    front: { kind: front, pid: front === 'nginx' ? Number(readFileSync(join(dir, 'nginx', 'nginx.pid'), 'utf8')) : childNamed('haproxy') },
    redis,
    stop: cluster.stop,
  };
}
