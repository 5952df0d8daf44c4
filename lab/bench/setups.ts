/**
 * The setups every benchmark run measures side by side, each started through the launcher's own
 * code: one replica on its own (no Redis: the in-memory adapter and log), the same replica behind
 * the real nginx config, and the four-replica cluster behind nginx with Redis, once with each
 * Redis adapter (REDIS_ADAPTER), the classic one again without metrics (METRICS=off), and, when
 * asked, the classic cluster running the server of another commit (lab/bench/baseline.ts). The rate
 * limit is lifted: the load generators send far faster than people type.
 */
import { readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildService } from '../cluster/child-process.js';
import { startCluster, startNginx, startReplica, WITHOUT_RATE_LIMIT } from '../cluster/cluster.js';
import { replaceRequired } from '../cluster/nginx-conf.js';
import type { RedisAdapterKind } from '../../server/config.js';
import { clusterPorts, NGINX_CONF_PATH, PROJECT_ROOT, UPSTREAM_SERVER } from '../cluster/topology.js';

export type SetupName = 'single-direct' | 'single-nginx' | 'cluster' | 'cluster-sharded' | 'cluster-no-metrics' | 'cluster-baseline';
export const SETUPS: readonly SetupName[] = ['single-direct', 'single-nginx', 'cluster', 'cluster-sharded', 'cluster-no-metrics'];

export interface RunningSetup {
  name: SetupName;
  /** Where the load generators connect. */
  url: string;
  /** Each replica's own address, for the latency probes. */
  replicaUrls: string[];
  /** Processes whose memory is reported. */
  pids: { replicas: number[]; nginx?: number; redis?: number };
  /** Where the setup's Redis is, if it has one: the benchmark counts its work. */
  redisUrl?: string;
  stop(): Promise<void>;
}

/**
 * The real nginx.conf with four workers, whatever the cores. A process here may hold at most 20,000
 * file descriptors (a hard limit even root cannot raise), and a proxied WebSocket holds two in
 * nginx: 20,000 clients over two workers would need 20,000 each and more.
 */
function withFourWorkers(conf: string): string {
  return replaceRequired(conf, /^worker_processes auto;$/m, () => 'worker_processes 4;', '`worker_processes auto`');
}

/** The real nginx.conf with only its first upstream server: one replica behind the same front. */
function withOneReplica(conf: string): string {
  let first = true;
  return replaceRequired(
    conf,
    UPSTREAM_SERVER,
    (line) => {
      const keep = first;
      first = false;
      return keep ? line : '# (benchmark: one replica only)';
    },
    'upstream servers',
  );
}

/** `replicaEntry`: the baseline's program, for `cluster-baseline`. */
export async function startSetup(name: SetupName, basePort: number, replicaEntry?: string): Promise<RunningSetup> {
  const ports = clusterPorts(basePort);
  const dir = join(PROJECT_ROOT, '.cluster', `bench-${basePort}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const benchNginxConf = withFourWorkers(readFileSync(NGINX_CONF_PATH, 'utf8'));

  if (name.startsWith('cluster')) {
    const adapter: RedisAdapterKind = name === 'cluster-sharded' ? 'sharded' : 'classic';
    const cluster = await startCluster({
      basePort,
      stateDir: dir,
      // The baseline for what metrics cost: the same cluster, counting nothing.
      replicaEnv: { ...WITHOUT_RATE_LIMIT, REDIS_ADAPTER: adapter, METRICS: name === 'cluster-no-metrics' ? 'off' : 'on' },
      nginxConf: benchNginxConf,
      replicaEntry: name === 'cluster-baseline' ? replicaEntry : undefined,
    });
    const nginxPid = Number(readFileSync(join(dir, 'nginx', 'nginx.pid'), 'utf8'));
    return {
      name,
      url: cluster.url,
      replicaUrls: cluster.replicas.map((replica) => replica.url),
      pids: { replicas: cluster.replicas.map((replica) => replica.process.pid), nginx: nginxPid, redis: cluster.redis!.pid },
      redisUrl: cluster.redisUrl,
      stop: cluster.stop,
    };
  }

  const started: ChildService[] = [];
  const replica = await startReplica({ number: 1, port: ports.replica(1), dir, env: WITHOUT_RATE_LIMIT });
  started.push(replica);
  const replicaUrl = `http://127.0.0.1:${ports.replica(1)}`;
  let nginxPid: number | undefined;
  if (name === 'single-nginx') {
    const prefix = join(dir, 'nginx');
    started.unshift(await startNginx({ conf: withOneReplica(benchNginxConf), ports, prefix }));
    nginxPid = Number(readFileSync(join(prefix, 'nginx.pid'), 'utf8'));
  }
  return {
    name,
    url: name === 'single-nginx' ? `http://127.0.0.1:${ports.front}` : replicaUrl,
    replicaUrls: [replicaUrl],
    pids: { replicas: [replica.pid], nginx: nginxPid },
    stop: async () => {
      for (const service of started) await service.stop();
    },
  };
}

/** Resident memory of a process and its children (nginx's workers), in bytes. */
export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      if (Number(entry) === pid || ppid === pid) total += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}
