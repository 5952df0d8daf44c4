/**
 * `npm run test:compose [-- --haproxy]`: the Docker Compose stack, brought up for real and checked
 * from outside with the suite's expectations; not part of `npm test` (CI has no Docker engine).
 * Uses `docker compose` (v2) or else `docker-compose` (1.29); tears the stack down (volumes too)
 * when it ends, fails or is interrupted. Needs host ports 8080-8084 (and 8090 with --haproxy).
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startService, waitUntilReady } from './cluster/child-process.js';
import { isPortFree } from './cluster/cluster.js';
import { clusterPorts, NGINX_CONF_PATH, PROJECT_ROOT, replicaNumbers } from './cluster/topology.js';
import { connectChatClient, getHealth, httpGetText, ListeningClient, makeTempDir, pollUntil, sendMessage } from '../test/helpers.js';

/** A project name of its own, so that its containers and volume are never a user's stack's. */
const PROJECT = 'chatcompose';
const PORTS = clusterPorts(8080);
const HAPROXY_PORT = 8090;
const REPLICAS = replicaNumbers();
/** What the README promises after a replica's container dies. */
const FAILOVER_BUDGET_MS = 5000;
/** `docker compose stop`'s default wait between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** A cold `up --build` took 51-55 s here; a rebuild with a warm cache, seconds. */
const UP_TIMEOUT_MS = 180_000;
const WEBSOCKET_CLIENT = join(PROJECT_ROOT, 'test', 'fixtures', 'websocket-client.ts');

const { values: flags } = parseArgs({ options: { haproxy: { type: 'boolean', default: false } } });
const files = ['docker-compose.yml', ...(flags.haproxy ? ['docker-compose.haproxy.yml'] : [])];
const front = flags.haproxy ? { name: 'HAProxy', url: `http://127.0.0.1:${HAPROXY_PORT}` } : { name: 'nginx', url: `http://127.0.0.1:${PORTS.front}` };
const replicaUrl = (n: number) => `http://127.0.0.1:${PORTS.replica(n)}`;

interface Ran {
  code: number | null;
  out: string;
}

/** The commands running now: Ctrl-C stops them before tearing down, or an `up` could outlive the `down`. */
const running = new Set<Promise<Ran>>();
const runningChildren = new Set<ReturnType<typeof spawn>>();

/** Runs a command to its end (asynchronously: the checks' clients keep running meanwhile). */
function run(command: string, args: string[]): Promise<Ran> {
  const finished = new Promise<Ran>((resolve) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    runningChildren.add(child);
    child.once('close', () => runningChildren.delete(child));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', (err) => resolve({ code: null, out: err.message }));
    child.once('close', (code) => resolve({ code, out }));
  });
  running.add(finished);
  void finished.then(() => running.delete(finished));
  return finished;
}

/** `docker compose` or `docker-compose`, whichever answers; undefined if neither. */
async function findCompose(): Promise<{ command: string; prefix: string[]; version: string } | undefined> {
  for (const [command, prefix] of [
    ['docker', ['compose']],
    ['docker-compose', []],
  ] as const) {
    const { code, out } = await run(command, [...prefix, 'version', '--short']);
    if (code === 0) return { command, prefix: [...prefix], version: out.trim() };
  }
  return undefined;
}

const engine = await run('docker', ['version', '--format', '{{.Server.Version}}']);
if (engine.code !== 0) {
  console.log('not run: no Docker engine');
  process.exit(0);
}
const found = await findCompose();
if (!found) {
  console.log('not run: no Docker Compose (`docker compose` or `docker-compose`)');
  process.exit(0);
}
const compose = found;
/** The compose command line up to the subcommand: this project's name and files. */
const composeArgs = [...compose.prefix, '-p', PROJECT, ...files.flatMap((file) => ['-f', file])];

/** Runs compose on this project's files; fails with its output if it exits non-zero. */
async function composeOk(...args: string[]): Promise<string> {
  const { code, out } = await run(compose.command, [...composeArgs, ...args]);
  if (code !== 0) throw new Error(`compose ${args.join(' ')} exited ${code}:\n${out.trimEnd().split('\n').slice(-15).join('\n')}`);
  return out;
}

async function containerOf(service: string): Promise<string> {
  const id = (await composeOk('ps', '-q', service)).trim();
  if (!id) throw new Error(`no container for ${service}`);
  return id;
}

async function everyReplicaHealthy(timeoutMs: number): Promise<void> {
  for (const n of REPLICAS) {
    await pollUntil(
      () => getHealth(replicaUrl(n)),
      (health) => health.status === 200,
      { what: `replica ${n} to answer /healthz 200`, timeoutMs, intervalMs: 500 },
    );
  }
}

const commit = await run('git', ['rev-parse', '--short', 'HEAD']);
const dirty = (await run('git', ['status', '--porcelain'])).out.trim() !== '';
console.log(`compose check, ${new Date().toISOString()}`);
console.log(`  commit ${commit.out.trim()}${dirty ? ' (with uncommitted changes)' : ''}`);
console.log(`  Docker engine ${engine.out.trim()}; Compose: ${[compose.command, ...compose.prefix].join(' ')} ${compose.version}`);
console.log(`  files: ${files.join(', ')}; front checked: ${front.name} (${front.url})`);

let tearingDown: Promise<void> | undefined;
/** Once, however often it is called (the end of the checks and Ctrl-C may both ask). */
function tearDown(): Promise<void> {
  tearingDown ??= run(compose.command, [...composeArgs, 'down', '-v', '--remove-orphans']).then(({ code, out }) => {
    console.log(code === 0 ? 'torn down (containers, network and volume removed)' : `tear-down failed (${code}):\n${out}`);
  });
  return tearingDown;
}
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  console.log('interrupted: stopping, then tearing down');
  for (const child of runningChildren) child.kill('SIGINT');
  void Promise.all(running)
    .then(tearDown)
    .then(() => process.exit(130));
});

/** Acknowledged ids, for the history check after the Redis restart. */
const acknowledged: string[] = [];
const clients: { close(): void }[] = [];

const checks: [string, () => Promise<string>][] = [
  [
    'the host ports are free',
    async () => {
      const ports = [PORTS.front, ...REPLICAS.map(PORTS.replica), ...(flags.haproxy ? [HAPROXY_PORT] : [])];
      for (const port of ports) if (!(await isPortFree(port))) throw new Error(`port ${port} is in use (a running stack? \`docker compose down\`)`);
      return ports.join(', ');
    },
  ],
  [
    'up --build: every replica and the front healthy',
    async () => {
      const startedAt = Date.now();
      await composeOk('up', '--build', '-d');
      await everyReplicaHealthy(UP_TIMEOUT_MS);
      await pollUntil(
        () => getHealth(front.url),
        (health) => health.status === 200,
        { what: `${front.name} to answer /healthz 200`, timeoutMs: 30_000, intervalMs: 500 },
      );
      return `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;
    },
  ],
  [
    'each replica names itself',
    async () => {
      for (const n of REPLICAS) {
        const page = await httpGetText(`${replicaUrl(n)}/`);
        if (!page.body.includes(`Instance #${n}`)) throw new Error(`${replicaUrl(n)} does not say "Instance #${n}" (HTTP ${page.status})`);
      }
      const throughFront = /Instance #(\d+)/.exec((await httpGetText(`${front.url}/`)).body);
      if (!throughFront) throw new Error(`${front.url} serves no instance page`);
      return `${REPLICAS.map((n) => `#${n}`).join(' ')} directly; #${throughFront[1]} through ${front.name}`;
    },
  ],
  [
    'Redis runs as the redis user',
    async () => {
      const uid = (await composeOk('exec', '-T', 'redis', 'id', '-u', 'redis')).trim();
      const status = await composeOk('exec', '-T', 'redis', 'cat', '/proc/1/status');
      const runsAs = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      if (runsAs !== uid) throw new Error(`redis-server (PID 1) runs as uid ${runsAs}, the redis user is ${uid}`);
      const owner = (await composeOk('exec', '-T', 'redis', 'stat', '-c', '%U', '/data/appendonlydir')).trim();
      if (owner !== 'redis') throw new Error(`/data/appendonlydir is owned by ${owner}`);
      return `uid ${uid}; /data/appendonlydir owned by redis`;
    },
  ],
  [
    'nginx logged no alert, unless the one docker-compose.yml explains',
    async () => {
      // worker_rlimit_nofile above the container's hard limit: an alert per worker, and nginx runs on.
      const wanted = Number(/^\s*worker_rlimit_nofile\s+(\d+);/m.exec(readFileSync(NGINX_CONF_PATH, 'utf8'))?.[1]);
      const hardLimit = Number((await composeOk('exec', '-T', 'nginx', 'sh', '-c', 'ulimit -Hn')).trim());
      const alerts = (await composeOk('logs', '--no-color', 'nginx')).split('\n').filter((line) => /\[(alert|emerg)\]/.test(line));
      const unexplained = alerts.filter((line) => !(hardLimit < wanted && line.includes(`setrlimit(RLIMIT_NOFILE, ${wanted}) failed`)));
      if (unexplained.length > 0) throw new Error(unexplained.join('\n'));
      return `hard limit ${hardLimit}, worker_rlimit_nofile ${wanted}: ${alerts.length} setrlimit alert(s)${alerts.length > 0 ? ', as explained' : ''}`;
    },
  ],
  [
    `a message crosses replicas, acknowledged, through ${front.name}`,
    async () => {
      const sender = await ListeningClient.connect(front.url);
      clients.push(sender);
      const other = REPLICAS.find((n) => String(n) !== sender.welcomes[0])!;
      const receiver = await ListeningClient.connect(replicaUrl(other));
      clients.push(receiver);
      const startedAt = Date.now();
      const result = await sendMessage(sender.socket, `through ${front.name}`);
      if (result === 'no answer' || !result.ok) throw new Error(`not acknowledged: ${JSON.stringify(result)}`);
      const ackMs = Date.now() - startedAt;
      acknowledged.push(result.id);
      await receiver.waitForIds([result.id], `the message on replica ${other}`, 5000);
      const shown = receiver.timeline.messages.find((message) => message.id === result.id)!;
      if (shown.instance !== sender.welcomes[0]) throw new Error(`stamped ${shown.instance}, sent on ${sender.welcomes[0]}`);
      return `sent on #${sender.welcomes[0]} (ack in ${ackMs} ms), shown on #${other}`;
    },
  ],
  [
    `failover after docker kill, within ${FAILOVER_BUDGET_MS / 1000} s, with catch-up, through ${front.name}`,
    async () => {
      // HAProxy keys on its cookie: sent as a browser that was on chat2 would (Node's client keeps
      // no cookies across reconnects); nginx on the address, the same for every client on this host.
      const victim = await ListeningClient.connect(front.url, { reconnection: true, extraHeaders: { cookie: 'chat_replica=chat2' } });
      clients.push(victim);
      const dead = Number(victim.welcomes[0]);
      const { socket: talker } = await connectChatClient(replicaUrl(REPLICAS.find((n) => n !== dead)!));
      clients.push(talker);
      const killedAt = Date.now();
      await composeOk('kill', `chat${dead}`);
      const meanwhile = await sendMessage(talker, `while chat${dead} was dead`);
      if (meanwhile === 'no answer' || !meanwhile.ok) throw new Error(`not acknowledged: ${JSON.stringify(meanwhile)}`);
      acknowledged.push(meanwhile.id);
      await pollUntil(
        async () => victim.welcomes.length,
        (count) => count >= 2,
        { what: 'the client to be welcomed by another replica', timeoutMs: FAILOVER_BUDGET_MS - (Date.now() - killedAt), intervalMs: 20 },
      );
      const failoverMs = Date.now() - killedAt;
      await victim.waitForIds([meanwhile.id], 'the message said while it was away', 5000);
      // nginx's own account of the hang: connects to the dead replica that timed out (HAProxy
      // logs nothing per connection at its `warning` level).
      const timedOut = flags.haproxy
        ? ''
        : ` (nginx logged ${(await composeOk('logs', '--no-color', 'nginx')).split('\n').filter((line) => line.includes('while connecting to upstream')).length} failed connect(s))`;
      await composeOk('start', `chat${dead}`);
      await everyReplicaHealthy(60_000);
      return `chat${dead} killed; welcomed by #${victim.welcomes[1]} after ${failoverMs} ms, caught up${timedOut}; chat${dead} started again`;
    },
  ],
  [
    'a Redis restart keeps the history',
    async () => {
      await composeOk('restart', 'redis');
      await everyReplicaHealthy(60_000);
      const reader = await ListeningClient.connect(front.url);
      clients.push(reader);
      const held = new Set(reader.ids());
      const missing = acknowledged.filter((id) => !held.has(id));
      if (missing.length > 0) throw new Error(`the history lacks ${missing.join(', ')}`);
      return `all ${acknowledged.length} acknowledged messages in the history after the restart`;
    },
  ],
  [
    'a graceful stop exits 0, with one client frozen',
    async () => {
      const stopped = REPLICAS[REPLICAS.length - 1]!;
      const dir = makeTempDir('compose-check');
      const frozen = startService('frozen client', process.execPath, ['--import', 'tsx', WEBSOCKET_CLIENT, replicaUrl(stopped)], {
        logFile: join(dir, 'frozen.log'),
      });
      try {
        await waitUntilReady(frozen, async () => readFileSync(frozen.logFile, 'utf8').includes('welcomed\n'));
        process.kill(frozen.pid, 'SIGSTOP');
        const { socket: responsive } = await connectChatClient(replicaUrl(stopped));
        clients.push(responsive);
        const id = await containerOf(`chat${stopped}`);
        const startedAt = Date.now();
        await composeOk('stop', `chat${stopped}`);
        const tookMs = Date.now() - startedAt;
        const { out } = await run('docker', ['inspect', '-f', '{{.State.ExitCode}}', id]);
        if (out.trim() !== '0') throw new Error(`chat${stopped} exited ${out.trim()} after ${tookMs} ms`);
        if (tookMs >= STOP_GRACE_MS) throw new Error(`the stop took ${tookMs} ms: Docker's SIGKILL came first`);
        return `chat${stopped} exited 0, ${tookMs} ms after the stop began`;
      } finally {
        process.kill(frozen.pid, 'SIGCONT');
        await frozen.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  ],
];

let failed = false;
try {
  for (const [name, check] of checks) {
    try {
      console.log(`ok    ${name}: ${await check()}`);
    } catch (err) {
      console.log(`FAIL  ${name}: ${err instanceof Error ? err.message : String(err)}`);
      failed = true;
      break;
    }
  }
} finally {
  for (const client of clients) client.close();
  await tearDown();
}
if (interrupted) {
  console.log('compose check interrupted');
  process.exit(130);
}
console.log(failed ? 'compose check FAILED' : `compose check passed: ${checks.length} checks through ${front.name}`);
process.exit(failed ? 1 : 0);
