/**
 * The local cluster: the topology of docker-compose.yml as processes on 127.0.0.1. One Redis, one
 * replica per upstream server in nginx/nginx.conf, and in front nginx running a copy of that file
 * (or HAProxy running a copy of haproxy/haproxy.cfg); if asked, Prometheus scraping the replicas.
 * `npm run cluster` (lab/cluster/cli.ts) and the browser tests' global set-up both start it from here.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createClient } from 'redis';
import { startService, waitUntilReady, type ChildService } from './child-process.js';
import { CONFIG_VARIABLES } from '../../server/config.js';
import { deriveLocalHaproxyCfg, HAPROXY_CFG_PATH } from './haproxy-conf.js';
import { deriveLocalNginxConf } from './nginx-conf.js';
import { deriveLocalPrometheusConfig, PROMETHEUS_CONFIG_PATH } from './prometheus-conf.js';
import { startRedisCluster, type RunningRedisCluster } from './redis-cluster.js';
import { HAPROXY, NGINX, PROMETHEUS, REDIS_CLI, REDIS_SERVER, requireProgram, requirePrograms, type SystemProgram } from './system-programs.js';
import { clusterPorts, NGINX_CONF_PATH, PROJECT_ROOT, replicaNumbers, type ClusterPorts } from './topology.js';

/** The compiled replica: `npm run build` makes it. */
export const REPLICA_ENTRY = join(PROJECT_ROOT, 'dist', 'server', 'main.js');

export interface Replica {
  number: number;
  port: number;
  url: string;
  process: ChildService;
}

/** What stands in front of the replicas: nginx (the default), or HAProxy. */
export type Front = 'nginx' | 'haproxy';
export const FRONTS: readonly Front[] = ['nginx', 'haproxy'];

export interface RunningCluster {
  /** The front: the address users open. */
  url: string;
  ports: ClusterPorts;
  /** Logs and state: `<stateDir>/<service>.log`. */
  stateDir: string;
  replicas: Replica[];
  /** The redis-server it started (tests stop and restart it; `stop()` does not know of a new one); none with a Redis Cluster. */
  redis: ChildService | undefined;
  /** The Redis Cluster it started instead, when asked for one. */
  redisCluster: RunningRedisCluster | undefined;
  /** Prometheus's address, when the cluster was started with it. */
  prometheusUrl: string | undefined;
  /** Its password: a random one for each cluster. */
  redisPassword: string;
  /** What the replicas connect to, the password included; none with a Redis Cluster. */
  redisUrl: string | undefined;
  /** Stops every child, the front first and Redis last. */
  stop(): Promise<void>;
}

/** Replica environment that lifts the rate limit: for load generators and tests that send fast. */
export const WITHOUT_RATE_LIMIT: NodeJS.ProcessEnv = { RATE_LIMIT_BURST: '1000000', RATE_LIMIT_PER_SECOND: '1000000' };

/** Default state folder for a base port, so clusters on different ports never share one. */
function defaultStateDir(basePort: number): string {
  return join(PROJECT_ROOT, '.cluster', String(basePort));
}

/** The programs outside npm a cluster with `front` (and Prometheus, and a Redis Cluster, if asked) runs. */
export function programsFor(front: Front, prometheus = false, redisCluster = false): SystemProgram[] {
  return [REDIS_SERVER, ...(redisCluster ? [REDIS_CLI] : []), front === 'nginx' ? NGINX : HAPROXY, ...(prometheus ? [PROMETHEUS] : [])];
}

/** Starts Redis, the replicas and the front, each once the one before answers. */
export async function startCluster(options: {
  basePort: number;
  /** nginx unless said otherwise. */
  front?: Front;
  stateDir?: string;
  /** Extra environment for every replica, for example the benchmark's rate limits. */
  replicaEnv?: NodeJS.ProcessEnv;
  /** The nginx config to run instead of nginx/nginx.conf (the benchmark's variant). */
  nginxConf?: string;
  /** Also run Prometheus, scraping every replica (prometheus/prometheus.yml, derived). */
  prometheus?: boolean;
  /** The replicas' program, if not this checkout's (the benchmark's baseline: lab/bench/baseline.ts). */
  replicaEntry?: string;
  /** A Redis Cluster (three primaries, a replica each) instead of one Redis; the replicas use the sharded adapter. */
  redisCluster?: boolean;
}): Promise<RunningCluster> {
  const ports = clusterPorts(options.basePort);
  const stateDir = options.stateDir ?? defaultStateDir(options.basePort);
  const numbers = replicaNumbers();
  const front = options.front ?? 'nginx';
  requirePrograms(programsFor(front, options.prometheus, options.redisCluster));
  const entry = options.replicaEntry ?? REPLICA_ENTRY;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const redisPorts = options.redisCluster ? ports.redisCluster : [ports.redis];
  await requireFreePorts([ports.front, ...redisPorts, ...numbers.map(ports.replica), ...(options.prometheus ? [ports.prometheus] : [])]);

  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const started: ChildService[] = [];
  let redisCluster: RunningRedisCluster | undefined;
  const stopAll = async () => {
    for (const service of started.reverse()) await service.stop();
    await redisCluster?.stop();
  };

  try {
    // Anything that can reach Redis can publish into the adapter's channels, and its packets are
    // unsigned: every replica would deliver them. So Redis asks for a password, a new one each time.
    const redisPassword = randomBytes(18).toString('base64url');
    let redis: ChildService | undefined;
    let redisUrl: string | undefined;
    let replicaEnv = options.replicaEnv;
    if (options.redisCluster) {
      redisCluster = await startRedisCluster({ ports: ports.redisCluster, busPorts: ports.redisClusterBus, dir: stateDir, password: redisPassword });
      replicaEnv = { ...replicaEnv, REDIS_CLUSTER_NODES: redisCluster.urls.join(','), REDIS_ADAPTER: 'sharded' };
    } else {
      redis = await startRedis({ port: ports.redis, dir: stateDir, password: redisPassword });
      started.push(redis);
      redisUrl = redisUrlFor(ports.redis, redisPassword);
    }

    // All replicas start at once; each is in `started` before anything can fail, so none leaks.
    const replicas = numbers.map((number): Replica => {
      const port = ports.replica(number);
      const child = spawnReplica({ number, port, redisUrl, dir: stateDir, env: replicaEnv, entry });
      started.push(child);
      return { number, port, url: `http://127.0.0.1:${port}`, process: child };
    });
    await Promise.all(replicas.map((replica) => waitUntilReady(replica.process, () => answersHealthz(replica.port))));

    started.push(
      front === 'nginx'
        ? await startNginx({ conf: options.nginxConf ?? readFileSync(NGINX_CONF_PATH, 'utf8'), ports, prefix: join(stateDir, 'nginx') })
        : await startHaproxy({ cfg: readFileSync(HAPROXY_CFG_PATH, 'utf8'), ports, dir: stateDir }),
    );

    if (options.prometheus) started.push(await startPrometheus({ ports, dir: stateDir }));
    const prometheusUrl = options.prometheus ? `http://127.0.0.1:${ports.prometheus}` : undefined;

    return { url: `http://127.0.0.1:${ports.front}`, ports, stateDir, replicas, redis, redisCluster, redisPassword, redisUrl, prometheusUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The URL a client of a local Redis connects to, with its password if it has one. */
export function redisUrlFor(port: number, password?: string): string {
  return `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}`;
}

/**
 * redis-server in the foreground, resolved once it answers PING; stopped again if it never does.
 * Started again on the same `dir`, it reloads the message log it had. With `password`, it refuses
 * clients that do not give it.
 */
export async function startRedis(options: { port: number; dir: string; name?: string; password?: string; args?: string[] }): Promise<ChildService> {
  const name = options.name ?? 'redis';
  // The password goes in a file only this user can read, not on the command line, where `ps` shows it.
  // A replica of a Redis Cluster gives it to its primary too (masterauth).
  const configFile = join(options.dir, `${name}.conf`);
  writeFileSync(configFile, options.password ? `requirepass ${options.password}\nmasterauth ${options.password}\n` : '', { mode: 0o600 });
  const service = startService(
    name,
    requireProgram(REDIS_SERVER),
    [
      configFile,
      '--port',
      String(options.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dir,
      // The message log must outlive a Redis restart: every write goes to the append-only file in
      // `dir` before Redis answers it (fsync'ed once a second), and is read back at start. No snapshots.
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--daemonize',
      'no',
      '--logfile',
      '',
      ...(options.args ?? []),
    ],
    { logFile: join(options.dir, `${name}.log`) },
  );
  await waitOrStop(service, () => redisAnswersPing(redisUrlFor(options.port, options.password)));
  return service;
}

interface ReplicaOptions {
  number: number;
  port: number;
  redisUrl?: string;
  /** Where its log goes. */
  dir: string;
  /** Extra environment variables (see server/config.ts). */
  env?: NodeJS.ProcessEnv;
  /** The program to run; this checkout's build unless said otherwise. */
  entry?: string;
}

/**
 * One replica, exactly as `npm start` runs it, configured the way compose configures it. Returns
 * at once; `startReplica` also waits for it.
 */
export function spawnReplica(options: ReplicaOptions): ChildService {
  const env: NodeJS.ProcessEnv = {
    ...envWithoutChatConfig(),
    ...options.env,
    PORT: String(options.port),
    NODE_NUMBER: String(options.number),
    // The cluster panel links each replica here: in this launcher, every replica is reachable directly.
    PUBLIC_URL: `http://127.0.0.1:${options.port}`,
  };
  if (options.redisUrl) env.REDIS_URL = options.redisUrl;
  return startService(`replica ${options.number}`, process.execPath, [options.entry ?? REPLICA_ENTRY], {
    logFile: join(options.dir, `replica-${options.number}.log`),
    env,
  });
}

/** This process's environment less the variables a replica reads, so the caller's own cannot leak in. */
export function envWithoutChatConfig(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.includes(name)));
}

/** A replica, resolved once its /healthz answers 200; stopped again if it never does. */
export async function startReplica(options: ReplicaOptions): Promise<ChildService> {
  const service = spawnReplica(options);
  await waitOrStop(service, () => answersHealthz(options.port));
  return service;
}

async function waitOrStop(service: ChildService, isReady: () => Promise<boolean>): Promise<void> {
  try {
    await waitUntilReady(service, isReady);
  } catch (err) {
    await service.stop();
    throw err;
  }
}

/**
 * Runs nginx in the foreground on a config derived from `conf` (nginx/nginx.conf, or a variant of
 * it), in `prefix`, and resolves once a replica answers through it.
 */
export async function startNginx(options: { conf: string; ports: ClusterPorts; prefix: string; name?: string }): Promise<ChildService> {
  const name = options.name ?? 'nginx';
  mkdirSync(join(options.prefix, 'temp'), { recursive: true });
  writeFileSync(join(options.prefix, 'nginx.conf'), deriveLocalNginxConf(options.conf, options.ports, options.prefix));
  const service = startService(
    name,
    requireProgram(NGINX),
    // -e stderr: log start-up errors to our log file, not /var/log/nginx.
    ['-p', `${options.prefix}/`, '-c', 'nginx.conf', '-e', 'stderr', '-g', 'daemon off;'],
    { logFile: join(options.prefix, '..', `${name}.log`) },
  );
  // Through nginx, /healthz answers only once nginx can reach a replica.
  await waitOrStop(service, () => answersHealthz(options.ports.front));
  return service;
}

/**
 * Runs HAProxy in the foreground (-db) on a config derived from `cfg` (haproxy/haproxy.cfg, or a
 * variant of it), and resolves once a replica answers through it.
 */
export async function startHaproxy(options: { cfg: string; ports: ClusterPorts; dir: string; name?: string }): Promise<ChildService> {
  const name = options.name ?? 'haproxy';
  const cfgFile = join(options.dir, `${name}.cfg`);
  writeFileSync(cfgFile, deriveLocalHaproxyCfg(options.cfg, options.ports));
  const service = startService(name, requireProgram(HAPROXY), ['-db', '-f', cfgFile], { logFile: join(options.dir, `${name}.log`) });
  await waitOrStop(service, () => answersHealthz(options.ports.front));
  return service;
}

/**
 * Runs Prometheus in the foreground on a config derived from prometheus/prometheus.yml, keeping its
 * data under `dir`, and resolves once it is ready to answer queries.
 */
async function startPrometheus(options: { ports: ClusterPorts; dir: string }): Promise<ChildService> {
  const configFile = join(options.dir, 'prometheus.yml');
  writeFileSync(configFile, deriveLocalPrometheusConfig(readFileSync(PROMETHEUS_CONFIG_PATH, 'utf8'), options.ports));
  const service = startService(
    'prometheus',
    requireProgram(PROMETHEUS),
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(options.dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${options.ports.prometheus}`,
      '--log.level=warn',
    ],
    { logFile: join(options.dir, 'prometheus.log') },
  );
  await waitOrStop(service, async () => (await fetch(`http://127.0.0.1:${options.ports.prometheus}/-/ready`)).ok);
  return service;
}

async function requireFreePorts(ports: number[]): Promise<void> {
  for (const port of ports) {
    if (!(await isPortFree(port))) throw new Error(`port ${port} on 127.0.0.1 is in use (another cluster? pick another CLUSTER_PORT)`);
  }
}

/** Whether something could listen on `port` on 127.0.0.1 right now. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** Whether GET /healthz on 127.0.0.1:`port` answers 200. */
async function answersHealthz(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  await response.body?.cancel();
  return response.ok;
}

async function redisAnswersPing(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {}); // a refused connection just means "not yet"
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.destroy();
  }
}
