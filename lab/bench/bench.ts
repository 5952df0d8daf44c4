/**
 * `npm run bench`: capacity, fan-out latency and the delivery ceiling of four setups, side by
 * side in one run (lab/bench/setups.ts), so that their ratios mean something on a shared machine:
 * nginx's cost (single-nginx / single-direct), the cost of Redis and the log (cluster /
 * single-nginx), the sharded adapter against the classic one (cluster-sharded / cluster), and what
 * the metrics cost (cluster / cluster-no-metrics). With Redis, it also counts Redis's own work:
 * commands and CPU per message, and per replica per second while nobody chats.
 * `--baseline=<rev>` adds the classic cluster running the server of that commit
 * (lab/bench/baseline.ts), to measure what a change costs in the same run.
 * Load comes from worker processes (lab/bench/load-worker.ts) spread over many client addresses; this
 * process only measures, through probe clients connected to each replica.
 * `--quick` is a small run for the test suite: it proves the benchmark works, never how fast;
 * `--port=N` moves every setup to ports N… (27080 by default); `--setups=a,b` runs only those.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { io, type Socket } from 'socket.io-client';
import { PROJECT_ROOT } from '../cluster/topology.js';
import type { ChatMessage, ClientToServerEvents, ServerToClientEvents } from '../../shared/events.js';
import { buildBaseline } from './baseline.js';
import { renderChart } from './chart.js';
import { parseBenchText, preciseNow, type WorkerCommand, type WorkerReport } from './protocol.js';
import { SETUPS, startSetup, treeRssBytes, type RunningSetup, type SetupName } from './setups.js';

const quick = process.argv.includes('--quick');
const option = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const resultsDir = option('results') ?? join(PROJECT_ROOT, 'lab', 'bench', 'results');
const baselineRevision = option('baseline');
const onlySetups = option('setups')?.split(',');

/** The plan: the scenarios at full size, or a few hundred clients for a few seconds. */
const PLAN = quick
  ? { workers: 2, capacitySteps: [100], fanoutClients: 100, idleMs: 500, fanoutRate: 20, fanoutMs: 500, ceilingRates: [50], ceilingMs: 500 }
  : {
      workers: 4,
      idleMs: 10_000,
      capacitySteps: [1000, 5000, 20_000],
      fanoutClients: 1000,
      fanoutRate: 20,
      fanoutMs: 25_000,
      ceilingRates: [10, 20, 30, 40, 50, 100],
      ceilingMs: 5000,
    };
/** The ceiling's conditions: p99 within this, and nothing lost. */
const CEILING_P99_MS = 250;
/**
 * When the load workers together use this share of the machine's CPU, they, not the server, are
 * what the figures measure (on 2 cores they compete with the replicas): such runs are marked.
 */
const SATURATED_MACHINE_SHARE = 0.5;
/**
 * Below the ephemeral range (32768-) from which outgoing connections take their local port: one of
 * those on 127.0.0.1 (a test's client, a Redis connection) could otherwise hold a port of the setup.
 */
const BASE_PORT = Number(option('port') ?? 27080);
/** After the last send, how long without a new delivery before the missing ones count as lost. */
const SETTLE_QUIET_MS = 2000;
/**
 * A process here may hold at most 20,000 file descriptors, even as root, and a replica holds one
 * per client: a capacity step above this many clients per replica is left out.
 */
const MAX_CLIENTS_PER_REPLICA = 15_000;

type ProbeSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface Latencies {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

interface Delivery {
  messagesPerSecond: number;
  acknowledged: number;
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Load clients disconnected during the phase, by reason: the usual cause of lost deliveries. */
  disconnects: Record<string, number>;
  deliveriesPerSecond: number;
  sameReplica: Latencies;
  crossReplica: Latencies | null;
  /** The load workers' CPU, as a share of the machine. */
  generatorCpuShare: number;
  generatorSaturated: boolean;
  /** What Redis did for each acknowledged message; null without Redis. */
  redisPerMessage: RedisWork | null;
}

/** Redis's work over a window: commands it ran (those inside scripts too), and its CPU time. */
interface RedisWork {
  commands: number;
  cpuMicros: number;
  byCommand: Record<string, number>;
}

interface CapacityStep {
  clients: number;
  failed: number;
  connectMs: number;
  rssPerConnectionBytes: { replicas: number; nginx: number | null; redis: number | null };
}

interface SetupResult {
  setup: SetupName;
  capacity: CapacityStep[];
  /** Redis's work per second and replica while clients are connected and nobody chats; null without Redis. */
  redisIdlePerReplicaSecond: RedisWork | null;
  fanout: Delivery;
  ceiling: { steps: Delivery[]; deliveriesPerSecond: number | null };
}

function percentiles(values: number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

/** The load workers: child processes, each with its share of the client addresses. */
class LoadWorkers {
  readonly children: ChildProcess[];

  constructor(count: number) {
    this.children = Array.from({ length: count }, (_, id) =>
      fork(join(PROJECT_ROOT, 'lab', 'bench', 'load-worker.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, BENCH_WORKER_ID: String(id) } }),
    );
  }

  private ask(child: ChildProcess, command: WorkerCommand, done: string): Promise<{ report?: WorkerReport }> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: { done: string; report?: WorkerReport }) => {
        if (message.done !== done) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code: number | null) => reject(new Error(`a load worker exited (${code}) during ${done}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(command);
    });
  }

  /** `clients` more clients, spread over the workers; each worker uses its own 127.0.N.M addresses. */
  async connect(url: string, clients: number): Promise<WorkerReport[]> {
    const share = Math.ceil(clients / this.children.length);
    return Promise.all(
      this.children.map(async (child, id) => {
        // 50 addresses per worker in distinct /24s: ip_hash spreads them, and none nears nginx's
        // limit of 200 connections per address (20,000 clients over 4 workers: 100 per address).
        const addresses = Array.from({ length: 50 }, (_, n) => `127.0.${1 + id * 50 + n}.${1 + (n % 5)}`);
        return (await this.ask(child, { command: 'connect', url, addresses, clients: share }, 'connect')).report!;
      }),
    );
  }

  async send(messagesPerSecond: number, durationMs: number, phase: string): Promise<void> {
    const share = messagesPerSecond / this.children.length;
    await Promise.all(this.children.map((child) => this.ask(child, { command: 'send', messagesPerSecond: share, durationMs, phase }, 'send')));
  }

  async report(phase: string): Promise<WorkerReport[]> {
    return Promise.all(this.children.map(async (child) => (await this.ask(child, { command: 'report', phase }, 'report')).report!));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.send({ command: 'close' });
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }
}

/** One probe client per replica, connected directly, timing every benchmark message it receives. */
async function connectProbes(setup: RunningSetup): Promise<{ latencies: { same: number[]; cross: number[] }; close(): void }> {
  const latencies = { same: [] as number[], cross: [] as number[] };
  const sockets: ProbeSocket[] = [];
  for (const url of setup.replicaUrls) {
    const socket: ProbeSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const instance = await new Promise<string>((resolve, reject) => {
      socket.once('welcome', (welcome) => resolve(welcome.instance));
      socket.once('connect_error', reject);
    });
    socket.on('chat message', (message: ChatMessage) => {
      const parsed = parseBenchText(message.text);
      if (parsed) (message.instance === instance ? latencies.same : latencies.cross).push(preciseNow() - parsed.sentAt);
    });
    sockets.push(socket);
  }
  return {
    latencies,
    close: () => {
      for (const socket of sockets) socket.close();
    },
  };
}

/** Sends at `messagesPerSecond` for `durationMs`, then counts deliveries and latencies. */
async function measureDelivery(workers: LoadWorkers, setup: RunningSetup, messagesPerSecond: number, durationMs: number, phase: string): Promise<Delivery> {
  const probes = await connectProbes(setup);
  try {
    const redisBefore = await redisSnapshot(setup);
    await workers.send(messagesPerSecond, durationMs, phase);
    // Deliveries may still be in flight when the last send is answered, and a saturated machine
    // can pause for a while: ask again every 300 ms until every delivery is in, or none has come
    // for SETTLE_QUIET_MS (then the missing ones count as lost).
    let reports = await workers.report(phase);
    let quietSince = performance.now();
    while (!allDelivered(reports) && performance.now() - quietSince < SETTLE_QUIET_MS) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const next = await workers.report(phase);
      if (total(next) > total(reports)) quietSince = performance.now();
      reports = next;
    }
    const { delivered, expected: expectedDeliveries } = deliveries(reports);
    const redisAfter = await redisSnapshot(setup);
    // The workers' CPU as a share of the whole machine.
    const cpuShare = reports.reduce((sum, report) => sum + report.cpuShare, 0) / cpus().length;
    const acknowledged = reports.reduce((sum, report) => sum + report.acknowledged.length, 0);
    return {
      messagesPerSecond,
      acknowledged,
      expectedDeliveries,
      delivered,
      lost: expectedDeliveries - delivered,
      duplicated: reports.reduce((sum, report) => sum + report.duplicates, 0),
      disconnects: countBy(reports.flatMap((report) => report.disconnects)),
      deliveriesPerSecond: Math.round(delivered / (durationMs / 1000)),
      sameReplica: percentiles(probes.latencies.same),
      crossReplica: probes.latencies.cross.length ? percentiles(probes.latencies.cross) : null,
      generatorCpuShare: Number(cpuShare.toFixed(2)),
      generatorSaturated: cpuShare >= SATURATED_MACHINE_SHARE,
      redisPerMessage: redisBefore && redisAfter && acknowledged ? redisWork(redisBefore, redisAfter, acknowledged) : null,
    };
  } finally {
    probes.close();
  }
}

/**
 * Deliveries of acknowledged messages, against how many there should be. (A message whose
 * acknowledgement timed out may still be delivered: it counts for neither.)
 */
function deliveries(reports: WorkerReport[]): { delivered: number; expected: number } {
  const acknowledged = reports.flatMap((report) => report.acknowledged);
  const clients = reports.reduce((sum, report) => sum + report.connected, 0);
  const delivered = acknowledged.reduce((sum, id) => sum + reports.reduce((inner, report) => inner + (report.receivedBy[id] ?? 0), 0), 0);
  return { delivered, expected: acknowledged.length * clients };
}

function allDelivered(reports: WorkerReport[]): boolean {
  const { delivered, expected } = deliveries(reports);
  return delivered >= expected;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function total(reports: WorkerReport[]): number {
  return reports.reduce((sum, report) => sum + Object.values(report.receivedBy).reduce((a, b) => a + b, 0), 0);
}

interface RedisSnapshot {
  calls: Record<string, number>;
  cpuMicros: number;
}

/** Redis's command counts (INFO commandstats) and CPU time (/proc), or null without Redis. */
async function redisSnapshot(setup: RunningSetup): Promise<RedisSnapshot | null> {
  if (!setup.redisUrl || !setup.pids.redis) return null;
  const client = createClient({ url: setup.redisUrl });
  await client.connect();
  try {
    const info = await client.info('commandstats');
    const calls: Record<string, number> = {};
    for (const [, command, count] of info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) calls[command!] = Number(count);
    // Fields 14 and 15 of /proc/PID/stat: user and system time, in clock ticks (100 a second).
    const fields = readFileSync(`/proc/${setup.pids.redis}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { calls, cpuMicros: (Number(fields[11]) + Number(fields[12])) * 10_000 };
  } finally {
    client.destroy();
  }
}

/** Redis's work between two snapshots, divided by `per`. The snapshots' own INFO calls are left out. */
function redisWork(before: RedisSnapshot, after: RedisSnapshot, per: number): RedisWork {
  const byCommand: Record<string, number> = {};
  for (const [command, calls] of Object.entries(after.calls)) {
    const ran = calls - (before.calls[command] ?? 0) - (command === 'info' ? 1 : 0);
    if (ran > 0) byCommand[command] = Number((ran / per).toFixed(3));
  }
  const commands = Object.values(byCommand).reduce((sum, value) => sum + value, 0);
  return { commands: Number(commands.toFixed(3)), cpuMicros: Math.round((after.cpuMicros - before.cpuMicros) / per), byCommand };
}

function memory(setup: RunningSetup): { replicas: number; nginx: number | null; redis: number | null } {
  return {
    replicas: setup.pids.replicas.reduce((sum, pid) => sum + treeRssBytes(pid), 0),
    nginx: setup.pids.nginx ? treeRssBytes(setup.pids.nginx) : null,
    redis: setup.pids.redis ? treeRssBytes(setup.pids.redis) : null,
  };
}

async function measureCapacity(setup: RunningSetup): Promise<CapacityStep[]> {
  const workers = new LoadWorkers(PLAN.workers);
  try {
    const idle = memory(setup);
    const steps: CapacityStep[] = [];
    let connected = 0;
    for (const target of PLAN.capacitySteps.filter((clients) => clients <= setup.replicaUrls.length * MAX_CLIENTS_PER_REPLICA)) {
      progress(`capacity: connecting up to ${target} idle clients`);
      const reports = await workers.connect(setup.url, target - connected);
      connected = reports.reduce((sum, report) => sum + report.connected, 0);
      const now = memory(setup);
      const perConnection = (before: number | null, after: number | null) =>
        before === null || after === null ? null : Math.round((after - before) / connected);
      steps.push({
        clients: connected,
        failed: reports.reduce((sum, report) => sum + report.failed, 0),
        connectMs: Math.round(Math.max(...reports.map((report) => report.connectMs))),
        rssPerConnectionBytes: {
          replicas: perConnection(idle.replicas, now.replicas)!,
          nginx: perConnection(idle.nginx, now.nginx),
          redis: perConnection(idle.redis, now.redis),
        },
      });
    }
    return steps;
  } finally {
    await workers.close();
  }
}

/** Progress on stderr, with the seconds since the start: a full run takes minutes. */
const began = performance.now();
const progress = (what: string) => console.error(`  [${((performance.now() - began) / 1000).toFixed(0)} s] ${what}`);

async function measureSetup(name: SetupName, replicaEntry?: string): Promise<SetupResult> {
  const setup = await startSetup(name, BASE_PORT, replicaEntry);
  try {
    const capacity = await measureCapacity(setup);
    const workers = new LoadWorkers(PLAN.workers);
    try {
      await workers.connect(setup.url, PLAN.fanoutClients);
      progress(`idle: ${PLAN.fanoutClients} clients, nobody chatting, for ${PLAN.idleMs / 1000} s`);
      const idleBefore = await redisSnapshot(setup);
      await new Promise((resolve) => setTimeout(resolve, PLAN.idleMs));
      const idleAfter = await redisSnapshot(setup);
      const redisIdlePerReplicaSecond = idleBefore && idleAfter ? redisWork(idleBefore, idleAfter, setup.replicaUrls.length * (PLAN.idleMs / 1000)) : null;
      progress(`fan-out: ${PLAN.fanoutClients} clients, ${PLAN.fanoutRate} messages/s for ${PLAN.fanoutMs / 1000} s`);
      const fanout = await measureDelivery(workers, setup, PLAN.fanoutRate, PLAN.fanoutMs, 'fan-out');
      const steps: Delivery[] = [];
      // Every rate is tried, even past one that failed: on a shared machine one step can fail on a
      // pause that the next does not see, and the table shows each step for that reason.
      progress(`ceiling: ${PLAN.ceilingRates.join(', ')} messages/s, ${PLAN.ceilingMs / 1000} s each`);
      for (const rate of PLAN.ceilingRates) steps.push(await measureDelivery(workers, setup, rate, PLAN.ceilingMs, `ceiling ${rate}/s`));
      const passing = steps.filter((step) => step.lost === 0 && worstP99(step) <= CEILING_P99_MS);
      return {
        setup: name,
        capacity,
        redisIdlePerReplicaSecond,
        fanout,
        ceiling: { steps, deliveriesPerSecond: passing.length ? Math.max(...passing.map((step) => step.deliveriesPerSecond)) : null },
      };
    } finally {
      await workers.close();
    }
  } finally {
    await setup.stop();
  }
}

const worstP99 = (delivery: Delivery) => Math.max(delivery.sameReplica.p99, delivery.crossReplica?.p99 ?? 0);
const ms = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(1));
const kb = (bytes: number | null) => (bytes === null ? '–' : (bytes / 1024).toFixed(1));

function printTable(results: SetupResult[]): void {
  const rows = results.map((result) => {
    const top = result.capacity.at(-1)!;
    const { fanout } = result;
    return {
      setup: result.setup,
      'idle clients': `${top.clients} (${top.failed} failed, ${(top.connectMs / 1000).toFixed(1)} s)`,
      'KB/conn replica|nginx|redis': `${kb(top.rssPerConnectionBytes.replicas)} | ${kb(top.rssPerConnectionBytes.nginx)} | ${kb(top.rssPerConnectionBytes.redis)}`,
      'same p50/p99 ms': `${ms(fanout.sameReplica.p50)}/${ms(fanout.sameReplica.p99)}`,
      'cross p50/p99 ms': fanout.crossReplica ? `${ms(fanout.crossReplica.p50)}/${ms(fanout.crossReplica.p99)}` : '–',
      'lost/dup/disconnected': `${fanout.lost}/${fanout.duplicated}/${Object.values(fanout.disconnects).reduce((a, b) => a + b, 0)}`,
      'ceiling deliveries/s': result.ceiling.deliveriesPerSecond ?? 'none passed',
      'generator CPU (machine)': `${Math.round(fanout.generatorCpuShare * 100)} %${fanout.generatorSaturated ? ' SATURATED' : ''}`,
      'Redis per message: commands, CPU µs': fanout.redisPerMessage ? `${fanout.redisPerMessage.commands}, ${fanout.redisPerMessage.cpuMicros}` : '–',
      'Redis idle per replica/s': result.redisIdlePerReplicaSecond ? String(result.redisIdlePerReplicaSecond.commands) : '–',
    };
  });
  console.table(rows);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a && b ? Number((a / b).toFixed(2)) : null;
}

const startedAt = new Date();
const baseline = baselineRevision ? buildBaseline(baselineRevision) : undefined;
const results: SetupResult[] = [];
try {
  for (const name of [...SETUPS, ...(baseline ? (['cluster-baseline'] as const) : [])].filter((setup) => !onlySetups || onlySetups.includes(setup))) {
    console.log(`— ${name}${name === 'cluster-baseline' ? ` (the server of ${baseline!.commit})` : ''}`);
    results.push(await measureSetup(name, baseline?.entry));
  }
} finally {
  baseline?.remove();
}
printTable(results);

const setup = (name: SetupName) => results.find((result) => result.setup === name);
const [direct, behindNginx, cluster, sharded, withoutMetrics, before] = (
  ['single-direct', 'single-nginx', 'cluster', 'cluster-sharded', 'cluster-no-metrics', 'cluster-baseline'] as const
).map(setup);
const replicaBytesPerConnection = (result: SetupResult | undefined) => result?.capacity.at(-1)?.rssPerConnectionBytes.replicas;
const ratios = {
  'nginx: single-nginx p99 / single-direct p99': ratio(behindNginx?.fanout.sameReplica.p99, direct?.fanout.sameReplica.p99),
  'Redis and the log: cluster cross-replica p99 / single-nginx p99': ratio(cluster?.fanout.crossReplica?.p99, behindNginx?.fanout.sameReplica.p99),
  'ceiling: cluster / single-nginx': ratio(cluster?.ceiling.deliveriesPerSecond, behindNginx?.ceiling.deliveriesPerSecond),
  'ceiling: single-nginx / single-direct': ratio(behindNginx?.ceiling.deliveriesPerSecond, direct?.ceiling.deliveriesPerSecond),
  'adapter: cluster-sharded cross-replica p99 / cluster cross-replica p99': ratio(sharded?.fanout.crossReplica?.p99, cluster?.fanout.crossReplica?.p99),
  'adapter ceiling: cluster-sharded / cluster': ratio(sharded?.ceiling.deliveriesPerSecond, cluster?.ceiling.deliveriesPerSecond),
  'metrics ceiling: cluster / cluster-no-metrics': ratio(cluster?.ceiling.deliveriesPerSecond, withoutMetrics?.ceiling.deliveriesPerSecond),
  'metrics memory per connection: cluster / cluster-no-metrics': ratio(replicaBytesPerConnection(cluster), replicaBytesPerConnection(withoutMetrics)),
  'metrics cross-replica p99: cluster / cluster-no-metrics': ratio(cluster?.fanout.crossReplica?.p99, withoutMetrics?.fanout.crossReplica?.p99),
  'Redis commands per message: cluster / cluster-baseline': ratio(cluster?.fanout.redisPerMessage?.commands, before?.fanout.redisPerMessage?.commands),
  'Redis CPU per message: cluster / cluster-baseline': ratio(cluster?.fanout.redisPerMessage?.cpuMicros, before?.fanout.redisPerMessage?.cpuMicros),
};
console.log(ratios);

const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
const report = { date: startedAt.toISOString(), commit, baseline: baseline?.commit ?? null, quick, machine, plan: PLAN, results, ratios };
mkdirSync(resultsDir, { recursive: true });
const stem = join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-${commit}${quick ? '-quick' : ''}`);
writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${stem}.svg`, renderChart(report));
console.log(`results: ${stem}.json, ${stem}.svg`);
