/**
 * The local cluster: the topology of docker-compose.yml as processes on 127.0.0.1. One Redis, one
 * replica per upstream server in nginx/nginx.conf, and nginx running a copy of that file.
 * `npm run cluster` (cluster/cli.ts) and the browser tests' global set-up both start it from here.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { startService, waitUntilReady, type ChildService } from './child-process.js';
import { deriveLocalNginxConf } from './nginx-conf.js';
import { describeMissing, findProgram, NGINX, REDIS_SERVER, type SystemProgram } from './system-programs.js';
import { clusterPorts, NGINX_CONF_PATH, replicaNumbers, type ClusterPorts } from './topology.js';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The compiled replica: `npm run build` makes it. */
const REPLICA_ENTRY = join(PROJECT_ROOT, 'dist', 'main.js');

export interface Replica {
  number: number;
  port: number;
  url: string;
  process: ChildService;
}

export interface RunningCluster {
  /** nginx: the address users open. */
  url: string;
  ports: ClusterPorts;
  /** Logs and state: `<stateDir>/<service>.log`. */
  stateDir: string;
  replicas: Replica[];
  /** Stops every child, nginx first and Redis last. */
  stop(): Promise<void>;
}

/** Default state folder for a base port, so clusters on different ports never share one. */
export function defaultStateDir(basePort: number): string {
  return join(PROJECT_ROOT, '.cluster', String(basePort));
}

/** Starts Redis, the replicas and nginx, each once the one before answers. */
export async function startCluster(options: { basePort: number; stateDir?: string }): Promise<RunningCluster> {
  const ports = clusterPorts(options.basePort);
  const stateDir = options.stateDir ?? defaultStateDir(options.basePort);
  const numbers = replicaNumbers();
  requirePrograms([REDIS_SERVER, NGINX]);
  if (!existsSync(REPLICA_ENTRY)) throw new Error(`${REPLICA_ENTRY} is missing: run \`npm run build\` first`);
  await requireFreePorts([ports.nginx, ports.redis, ...numbers.map(ports.replica)]);

  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  const started: ChildService[] = [];
  const stopAll = async () => {
    for (const service of started.reverse()) await service.stop();
  };

  try {
    const redis = startService('redis', programPath(REDIS_SERVER), [
      '--port', String(ports.redis), '--bind', '127.0.0.1', '--dir', stateDir,
      // A chat relay keeps nothing: no snapshots, no append-only file.
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '',
    ], { logFile: join(stateDir, 'redis.log') });
    started.push(redis);
    const redisUrl = `redis://127.0.0.1:${ports.redis}`;
    await waitUntilReady(redis, () => redisAnswersPing(redisUrl));

    const replicas = numbers.map((number): Replica => {
      const port = ports.replica(number);
      const process = startReplica({ number, port, redisUrl, logFile: join(stateDir, `replica-${number}.log`) });
      started.push(process);
      return { number, port, url: `http://127.0.0.1:${port}`, process };
    });
    await Promise.all(replicas.map((replica) => waitUntilReady(replica.process, () => answersHttp(`${replica.url}/healthz`))));

    const realConf = readFileSync(NGINX_CONF_PATH, 'utf8');
    started.push(await startNginx({ conf: realConf, ports, prefix: join(stateDir, 'nginx') }));

    return { url: `http://127.0.0.1:${ports.nginx}`, ports, stateDir, replicas, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** One replica, exactly as `npm start` runs it, configured the way compose configures it. */
function startReplica(options: { number: number; port: number; redisUrl: string; logFile: string }): ChildService {
  return startService(`replica ${options.number}`, process.execPath, [REPLICA_ENTRY], {
    logFile: options.logFile,
    env: { ...process.env, PORT: String(options.port), NODE_NUMBER: String(options.number), REDIS_URL: options.redisUrl },
  });
}

/**
 * Runs nginx in the foreground on a config derived from `conf` (nginx/nginx.conf, or a variant of
 * it), in `prefix`, and resolves once a replica answers through it.
 */
export async function startNginx(options: { conf: string; ports: ClusterPorts; prefix: string; name?: string }): Promise<ChildService> {
  requirePrograms([NGINX]);
  mkdirSync(join(options.prefix, 'temp'), { recursive: true });
  writeFileSync(join(options.prefix, 'nginx.conf'), deriveLocalNginxConf(options.conf, options.ports, options.prefix));
  const service = startService(
    options.name ?? 'nginx',
    programPath(NGINX),
    // -e stderr: log start-up errors to our log file, not /var/log/nginx.
    ['-p', `${options.prefix}/`, '-c', 'nginx.conf', '-e', 'stderr', '-g', 'daemon off;'],
    { logFile: join(options.prefix, '..', `${options.name ?? 'nginx'}.log`) },
  );
  await waitUntilReady(service, () => answersHttp(`http://127.0.0.1:${options.ports.nginx}/healthz`));
  return service;
}

/** Thrown when redis-server or nginx is not installed; the message says how to install them. */
export class MissingProgramsError extends Error {
  override name = 'MissingProgramsError';
}

/** Checks all at once, so the message names every missing program, not just the first. */
function requirePrograms(programs: SystemProgram[]): void {
  const missing = programs.filter((program) => !findProgram(program.command));
  if (missing.length > 0) throw new MissingProgramsError(describeMissing(missing));
}

function programPath(program: SystemProgram): string {
  const path = findProgram(program.command);
  if (!path) throw new MissingProgramsError(describeMissing([program]));
  return path;
}

async function requireFreePorts(ports: number[]): Promise<void> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (!free) throw new Error(`port ${port} on 127.0.0.1 is in use (another cluster? pick another CLUSTER_PORT)`);
  }
}

async function answersHttp(url: string): Promise<boolean> {
  const response = await fetch(url);
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
