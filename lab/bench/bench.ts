/**
 * `npm run bench`: what the server costs, in figures that belong to it. Each setup of
 * lab/bench/setups.ts (the reference cluster, the same behind HAProxy, each feature switched off,
 * the sharded adapter, a Redis Cluster, another commit's server) is started in turn and measured:
 * - **memory per idle connection**: heap and RSS of the replicas after a forced collection
 *   (through their inspector), RSS of the front and of Redis, at each step of idle clients, and
 *   how long the large step took to connect, with what each of its connections cost while it
 *   connected: the replicas' and the front's CPU, and the bytes the replicas wrote;
 * - **CPU per delivery**: the replicas', the front's and Redis's own CPU time (/proc) over a window
 *   of messages at a fixed rate the generators carry easily, divided by the deliveries, repeated
 *   `windows` times for the spread; deliveries/s and p50/p99 from one full client per replica;
 * - with rooms, the same with messages spread over several rooms, each room's members all on one
 *   replica: each Redis node's share, and the adapter packets each replica received and had no
 *   member for;
 * - **background**: the replicas' CPU per second with the largest idle step connected and nobody
 *   talking (heartbeats, presence, positions, sweeps, metrics), a cost inside every window's figure;
 * - **one replica at saturation**: clients connected straight to the first replica, messages
 *   offered faster than it delivers them one at a time, so that its packets queue and go out in
 *   batches (server/write-batching.ts): the CPU per delivery of that replica, and of all four
 *   (the other three hold a probe each, and their background).
 * For the reference it also writes a CPU profile summary of one replica during a window and a
 * heap-snapshot diff of one replica per idle connection, and for the reference and the baseline
 * where a connect's time goes in one replica, next to the JSON and the chart.
 * Load comes from worker processes (lab/bench/load-worker.ts: bare WebSocket clients, so that they
 * are not what saturates); their CPU is reported. This process holds only the probes.
 * `--quick` is a small run for the test suite: it proves the benchmark works, never how fast;
 * `--port=N` moves every setup to ports N… (27080 by default); `--setups=a,b` runs only those, in that order;
 * `--baseline=<rev>` adds `cluster-baseline`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { io, type Socket } from 'socket.io-client';
import { PROJECT_ROOT } from '../cluster/topology.js';
import { loadConfig } from '../../server/config.js';
import { STORM_MAX_DEFERRAL } from '../../server/chat/presence.js';
import { DEFAULT_ROOM, type ChatMessage, type ClientToServerEvents, type ServerToClientEvents } from '../../shared/events.js';
import { buildBaseline } from './baseline.js';
import { renderChart } from './chart.js';
import { diffCensus, Inspector, type HeapDiffSummary, type MemoryAfterCollection, type ProfileSummary } from './inspector.js';
import { treeCpuMicros, treeRssBytes, treeWrittenBytes } from './process-accounting.js';
import { parseBenchText, preciseNow, type WorkerCommand, type WorkerReport } from './protocol.js';
import type { Background, BenchReport, ConnectProfile, IdleStep, Latencies, Scenario, SetupResult, Window } from './results.js';
import { SETUP_NAMES, startSetup, type RunningSetup, type SetupName } from './setups.js';
import { pollUntil } from '../../test/helpers.js';

const quick = process.argv.includes('--quick');
/** The replicas run with the defaults: the timings below follow from them. */
const DEFAULTS = loadConfig({});
const option = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const resultsDir = option('results') ?? join(PROJECT_ROOT, 'lab', 'bench', 'results');
const baselineRevision = option('baseline');
const onlySetups = option('setups')?.split(',');
const unknownSetups = onlySetups?.filter((name) => !(SETUP_NAMES as string[]).includes(name)) ?? [];
if (unknownSetups.length > 0) {
  console.error(`--setups: no setup named ${unknownSetups.join(', ')}; the setups are ${SETUP_NAMES.join(', ')}`);
  process.exit(2);
}

/** The plan: the scenarios at full size, or a few dozen clients for a fraction of a second. */
const PLAN = quick
  ? {
      workers: 2,
      idleSteps: [80],
      heapDiffClients: 40,
      profiledConnects: 40,
      clients: 40,
      messagesPerSecond: 10,
      windowMs: 600,
      backgroundMs: 600,
      windows: 1,
      rooms: 4,
      roomMessagesPerSecond: 10,
      saturation: { clients: 40, messagesPerSecond: 10 },
    }
  : {
      workers: 2,
      idleSteps: [2000, 8000],
      heapDiffClients: 1000,
      profiledConnects: 2000,
      clients: 1000,
      messagesPerSecond: 10,
      windowMs: 2500,
      // One period of a crowd's presence (the replicas run with the defaults): each window holds one
      // read of the reports, where a window of 2.5 s held one or none, and its figure went from 11 to 200.
      backgroundMs: DEFAULTS.presence.crowdSpacingMs,
      windows: 3,
      rooms: 8,
      roomMessagesPerSecond: 40,
      // The load of the independent harness issue 20 cites: 1,268 clients, 50 msg/s offered.
      saturation: { clients: 1268, messagesPerSecond: 50 },
    };
/**
 * Below the ephemeral range (32768-) from which outgoing connections take their local port: one of
 * those on 127.0.0.1 (a test's client, a Redis connection) could otherwise hold a port of the setup.
 */
const BASE_PORT = Number(option('port') ?? 27080);
/** After the last send, how long without a new delivery before the missing ones count as missing. */
const SETTLE_QUIET_MS = 2000;
/**
 * …and how much longer without one before those count as lost rather than late: past the next
 * heartbeat, so that a packet stuck behind a write that never completed has had the ping's write to move it.
 */
const LATE_WITHIN_MS = DEFAULTS.heartbeat.intervalMs + 5000;
/** Client addresses per worker, each in its own /24 (ip_hash spreads them); far from the fronts' 200 connections per address. */
const ADDRESSES_PER_WORKER = 100;

/**
 * The replica metric counting the adapter packets a replica receives, for a room it has members of
 * or not (`for_local_members="yes"|"no"`; server/metrics.ts). A server without it (the baseline,
 * METRICS=off) gives `adapterPackets: null`.
 */
const ADAPTER_PACKETS_METRIC = 'chat_adapter_packets_received_total';

/**
 * A crowd's update waits out a storm of arrivals, at most STORM_MAX_DEFERRAL spacings
 * (PRESENCE_CROWD_SPACING_MS), then comes at the next one; one more to spare.
 */
const CROWD_UPDATE_TIMEOUT_MS = (STORM_MAX_DEFERRAL + 2) * DEFAULTS.presence.crowdSpacingMs;

/** The setups whose connects are profiled, side by side: the reference and the plain chat. */
const CONNECT_PROFILED: SetupName[] = ['cluster', 'cluster-baseline'];
/** A tenth of V8's default interval: a replica's share of the profiled connects is a few hundred. */
const CONNECT_SAMPLING_MICROS = 100;

/** What each replica still holds once the load clients are gone: the latency probe. */
const PROBES_PER_REPLICA = 1;

type ProbeSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The load workers: child processes, each with its share of the client addresses. */
class LoadWorkers {
  private readonly children: ChildProcess[];

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

  private all(command: WorkerCommand, done: string): Promise<WorkerReport[]> {
    return Promise.all(this.children.map(async (child) => (await this.ask(child, command, done)).report!));
  }

  /** `clients` more clients, spread over the workers; each worker uses its own 127.0.N.M addresses. */
  async connect(url: string, clients: number, roomsByInstance?: Record<string, string[]>): Promise<WorkerReport[]> {
    const share = Math.ceil(clients / this.children.length);
    return Promise.all(
      this.children.map(async (child, id) => {
        const addresses = Array.from({ length: ADDRESSES_PER_WORKER }, (_, n) => `127.0.${1 + id * ADDRESSES_PER_WORKER + n}.${1 + (n % 5)}`);
        return (await this.ask(child, { command: 'connect', url, addresses, clients: share, roomsByInstance }, 'connect')).report!;
      }),
    );
  }

  async send(messagesPerSecond: number, durationMs: number, toRooms: boolean): Promise<void> {
    await this.all({ command: 'send', messagesPerSecond: messagesPerSecond / this.children.length, durationMs, toRooms }, 'send');
  }

  report(): Promise<WorkerReport[]> {
    return this.all({ command: 'report' }, 'report');
  }

  /** Their CPU time so far, all together. */
  cpuMicros(): number {
    return sum(this.children.map((child) => treeCpuMicros(child.pid!).total));
  }

  /** Closes every client; waits until the replicas of `setup` hold at most `remaining` connections (the probes). */
  async disconnect(setup: RunningSetup, remaining: number): Promise<void> {
    await Promise.all(this.children.map((child) => this.ask(child, { command: 'disconnect' }, 'disconnect')));
    await waitForConnections(setup, remaining);
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

/** One full client per replica, connected directly, timing every benchmark message it receives. */
class Probes {
  private latencies = { same: [] as number[], cross: [] as number[] };
  /** The `presence` packets each probe has had: the baseline and PRESENCE=off send none. */
  private presenceReceived: number[] = [];

  private constructor(readonly sockets: ProbeSocket[]) {}

  static async connect(setup: RunningSetup): Promise<Probes> {
    const probes = new Probes([]);
    for (const replica of setup.replicas) {
      const socket: ProbeSocket = io(replica.url, { transports: ['websocket'], forceNew: true, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const index = probes.sockets.length;
      probes.presenceReceived[index] = 0;
      socket.on('presence', () => {
        probes.presenceReceived[index]! += 1;
      });
      socket.on('chat message', (message: ChatMessage) => {
        const parsed = parseBenchText(message.text);
        if (parsed) (message.instance === String(replica.number) ? probes.latencies.same : probes.latencies.cross).push(preciseNow() - parsed.sentAt);
      });
      probes.sockets.push(socket);
    }
    return probes;
  }

  /** How many `presence` packets each probe has had so far. */
  presenceMark(): number[] {
    return [...this.presenceReceived];
  }

  /**
   * Once every probe has had a `presence` since `mark` (at once if the server sends none): the
   * crowd's update for the clients that connected before the mark.
   */
  async presenceSince(mark: number[]): Promise<void> {
    if (this.presenceReceived.every((received) => received === 0)) return;
    await pollUntil(
      async () => this.presenceReceived.filter((received, n) => received === mark[n]).length,
      (waiting) => waiting === 0,
      { what: 'a presence update to reach every probe after the connects', timeoutMs: CROWD_UPDATE_TIMEOUT_MS },
    );
  }

  /** The latencies since the last call. */
  take(): { same: number[]; cross: number[] } {
    const taken = this.latencies;
    this.latencies = { same: [], cross: [] };
    return taken;
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
  }
}

function percentiles(values: number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!, 1) : NaN);
  return { p50: at(0.5), p99: at(0.99), count: sorted.length };
}

const round = (value: number, digits = 0) => Number(value.toFixed(digits));
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** What the benchmark's own Redis client runs to take a snapshot: left out of Redis's work. */
const SNAPSHOT_COMMANDS = new Set(['info', 'auth', 'hello', 'client|setinfo']);

/** Each Redis process's command counts (INFO commandstats), role and CPU time. */
async function redisSnapshot(setup: RunningSetup): Promise<{ port: number; role: string; calls: Record<string, number>; cpuMicros: number }[]> {
  return Promise.all(
    setup.redis.map(async ({ url, pid, port }) => {
      const client = createClient({ url });
      await client.connect();
      try {
        const info = await client.info('all');
        const calls: Record<string, number> = {};
        for (const [, command, count] of info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) calls[command!] = Number(count);
        return { port, role: /^role:(\w+)/m.exec(info)?.[1] ?? 'unknown', calls, cpuMicros: treeCpuMicros(pid).total };
      } finally {
        client.destroy();
      }
    }),
  );
}

/** CPU time of the replicas (all, and the first one) and of the front, now. */
function cpuSnapshot(setup: RunningSetup): { replicas: number; replicasMainThreads: number; firstReplica: number; front: number } {
  const replicas = setup.replicas.map((replica) => treeCpuMicros(replica.pid));
  return {
    replicas: sum(replicas.map((replica) => replica.total)),
    replicasMainThreads: sum(replicas.map((replica) => replica.mainThread)),
    firstReplica: replicas[0]!.total,
    front: treeCpuMicros(setup.front.pid).total,
  };
}

const replicasWrittenBytes = (setup: RunningSetup) => sum(setup.replicas.map((replica) => treeWrittenBytes(replica.pid)));

/** The adapter-packet counter of each replica, or null where there is none. */
async function adapterPackets(setup: RunningSetup): Promise<Record<string, number>[] | null> {
  const perReplica = await Promise.all(
    setup.replicas.map(async (replica) => {
      const text = await (await fetch(`${replica.url}/metrics`)).text();
      const samples: Record<string, number> = {};
      for (const [, labels, value] of text.matchAll(new RegExp(`^${ADAPTER_PACKETS_METRIC}(\\{[^}]*\\})? (\\S+)$`, 'gm')))
        samples[labels ?? ''] = Number(value);
      return samples;
    }),
  );
  return perReplica.some((samples) => Object.keys(samples).length > 0) ? perReplica : null;
}

/**
 * Deliveries may still be in flight: asks the workers every 200 ms until every delivery is in, or
 * none has come for `quietMs`.
 */
async function settle(workers: LoadWorkers, quietMs: number): Promise<WorkerReport[]> {
  let reports = await workers.report();
  let quietSince = performance.now();
  while (count(reports).delivered < count(reports).expected && performance.now() - quietSince < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await workers.report();
    if (count(next).received > count(reports).received) quietSince = performance.now();
    reports = next;
  }
  return reports;
}

/** Sends at `messagesPerSecond` for `durationMs`, then counts deliveries by id and what each process spent. */
async function measureWindow(
  workers: LoadWorkers,
  probes: Probes,
  setup: RunningSetup,
  messagesPerSecond: number,
  durationMs: number,
  toRooms: boolean,
): Promise<Window> {
  probes.take();
  const redisBefore = await redisSnapshot(setup);
  const cpuBefore = cpuSnapshot(setup);
  await workers.send(messagesPerSecond, durationMs, toRooms);
  // The missing ones after this are late or lost.
  const reports = await settle(workers, SETTLE_QUIET_MS);
  const cpuAfter = cpuSnapshot(setup);
  const redisAfter = await redisSnapshot(setup);
  const { delivered, expected, duplicated, incomplete, acknowledged } = count(reports);
  const latencies = probes.take();
  const late = delivered < expected ? count(await settle(workers, LATE_WITHIN_MS)).delivered - delivered : 0;
  const ran = (n: number) => {
    const before = redisBefore[n]!.calls;
    return Object.entries(redisAfter[n]!.calls)
      .filter(([command]) => !SNAPSHOT_COMMANDS.has(command))
      .map(([command, calls]) => [command, calls - (before[command] ?? 0)] as const)
      .filter(([, calls]) => calls > 0);
  };
  const redisNodes = redisAfter.map((after, n) => ({
    port: after.port,
    role: after.role,
    commands: sum(ran(n).map(([, calls]) => calls)),
    cpuMicros: Math.round(after.cpuMicros - redisBefore[n]!.cpuMicros),
  }));
  // Primaries only: a Redis Cluster's replicas run every write again, and would count it twice.
  const byCommand: Record<string, number> = {};
  for (const [n, node] of redisNodes.entries())
    if (node.role === 'master') for (const [command, calls] of ran(n)) byCommand[command] = (byCommand[command] ?? 0) + calls;
  const perDelivery = (micros: number) => (delivered ? round(micros / delivered, 2) : NaN);
  const generatorCores = sum(reports.map((report) => report.cpuShare));
  return {
    acknowledged,
    expectedDeliveries: expected,
    delivered,
    lost: expected - delivered - late,
    late,
    duplicated,
    incompleteMessages: incomplete,
    disconnects: countBy(reports.flatMap((report) => report.disconnects)),
    deliveriesPerSecond: Math.round(delivered / (durationMs / 1000)),
    sameReplica: percentiles(latencies.same),
    crossReplica: latencies.cross.length ? percentiles(latencies.cross) : null,
    cpuMicrosPerDelivery: {
      replicas: perDelivery(cpuAfter.replicas - cpuBefore.replicas),
      firstReplica: perDelivery(cpuAfter.firstReplica - cpuBefore.firstReplica),
      front: perDelivery(cpuAfter.front - cpuBefore.front),
      redis: perDelivery(sum(redisNodes.map((node) => node.cpuMicros))),
    },
    generatorCores: round(generatorCores, 2),
    generatorMachineShare: round(generatorCores / cpus().length, 2),
    redisNodes,
    redisCommandsPerMessage: Object.fromEntries(
      Object.entries(byCommand).map(([command, calls]) => [command, acknowledged ? round(calls / acknowledged, 3) : NaN]),
    ),
  };
}

/**
 * Deliveries of acknowledged messages by id, against the members of each message's room (a message
 * whose acknowledgement timed out may still be delivered: it counts for neither). A message one
 * client got twice and another never shows as neither: this counts copies per message, not per client.
 */
function count(reports: WorkerReport[]): {
  delivered: number;
  expected: number;
  duplicated: number;
  incomplete: number;
  received: number;
  acknowledged: number;
} {
  const members = (room: string) =>
    room === DEFAULT_ROOM ? sum(reports.map((report) => report.connected)) : sum(reports.map((report) => report.members[room] ?? 0));
  let delivered = 0;
  let expected = 0;
  let duplicated = 0;
  let incomplete = 0;
  let acknowledged = 0;
  for (const report of reports)
    for (const [room, ids] of Object.entries(report.acknowledged)) {
      const recipients = members(room);
      acknowledged += ids.length;
      for (const id of ids) {
        const received = sum(reports.map((other) => other.receivedBy[id] ?? 0));
        delivered += Math.min(received, recipients);
        duplicated += Math.max(0, received - recipients);
        if (received < recipients) incomplete += 1;
        expected += recipients;
      }
    }
  const received = sum(reports.map((report) => sum(Object.values(report.receivedBy))));
  return { delivered, expected, duplicated, incomplete, received, acknowledged };
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** The windows' median, lowest and highest of each per-delivery figure and of the latencies. */
function spreadOf(windows: Window[]): Scenario['spread'] {
  const figures: Record<string, (window: Window) => number | undefined> = {
    'replica CPU µs/delivery': (w) => w.cpuMicrosPerDelivery.replicas,
    'replica 1 CPU µs/delivery': (w) => w.cpuMicrosPerDelivery.firstReplica,
    'front CPU µs/delivery': (w) => w.cpuMicrosPerDelivery.front,
    'Redis CPU µs/delivery': (w) => w.cpuMicrosPerDelivery.redis,
    'deliveries/s': (w) => w.deliveriesPerSecond,
    'same-replica p99 ms': (w) => w.sameReplica.p99,
    'cross-replica p99 ms': (w) => w.crossReplica?.p99,
    'generator cores': (w) => w.generatorCores,
  };
  return Object.fromEntries(
    Object.entries(figures).map(([name, figure]) => {
      const values = windows
        .map(figure)
        .filter((value): value is number => value !== undefined && Number.isFinite(value))
        .sort((a, b) => a - b);
      return [name, { median: values[Math.floor(values.length / 2)] ?? NaN, min: values[0] ?? NaN, max: values.at(-1) ?? NaN }];
    }),
  );
}

async function runScenario(
  setup: RunningSetup,
  probes: Probes,
  workers: LoadWorkers,
  clients: number,
  messagesPerSecond: number,
  toRooms: boolean,
): Promise<Scenario> {
  const packetsBefore = toRooms ? await adapterPackets(setup) : null;
  const windows: Window[] = [];
  for (let n = 0; n < PLAN.windows; n++) windows.push(await measureWindow(workers, probes, setup, messagesPerSecond, PLAN.windowMs, toRooms));
  const packetsAfter = toRooms ? await adapterPackets(setup) : null;
  return {
    messagesPerSecond,
    clients,
    windows,
    spread: spreadOf(windows),
    adapterPackets:
      packetsBefore && packetsAfter
        ? packetsAfter.map((samples, n) =>
            Object.fromEntries(Object.entries(samples).map(([labels, value]) => [labels, value - (packetsBefore[n]![labels] ?? 0)])),
          )
        : null,
  };
}

/** Heap and RSS of every replica after a collection, RSS of the front and of Redis. */
async function memory(setup: RunningSetup, inspectors: Inspector[]): Promise<{ replicas: MemoryAfterCollection; front: number; redis: number }> {
  const replicas = await Promise.all(inspectors.map((inspector) => inspector.memoryAfterCollection()));
  return {
    replicas: { heapUsed: sum(replicas.map((m) => m.heapUsed)), rss: sum(replicas.map((m) => m.rss)) },
    front: treeRssBytes(setup.front.pid),
    redis: sum(setup.redis.map(({ pid }) => treeRssBytes(pid))),
  };
}

/** Until every replica holds no more than `connections` clients (closed ones take a moment to be noticed). */
async function waitForConnections(setup: RunningSetup, connections: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const counts = await Promise.all(
      setup.replicas.map(async (replica) => ((await (await fetch(`${replica.url}/healthz`)).json()) as { connections: number }).connections),
    );
    if (counts.every((held) => held <= connections)) return;
    if (Date.now() > deadline) throw new Error(`the replicas still hold ${counts.join(', ')} connections 30 s after their clients left`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The replicas' CPU, all together, over the next `durationMs`: ms per second. */
async function replicasCpuMsPerSecond(setup: RunningSetup, durationMs: number): Promise<number> {
  const cpuBefore = cpuSnapshot(setup).replicas;
  const startedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  return round((cpuSnapshot(setup).replicas - cpuBefore) / 1000 / ((performance.now() - startedAt) / 1000), 1);
}

/** Idle clients in steps: memory per connection after each, and the connect time of each. */
async function measureIdle(
  setup: RunningSetup,
  workers: LoadWorkers,
  inspectors: Inspector[],
  probes: Probes,
): Promise<{ steps: IdleStep[]; background: Background }> {
  let before = await memory(setup, inspectors);
  const steps: IdleStep[] = [];
  let connected = 0;
  let presenceMark: number[] = [];
  for (const target of PLAN.idleSteps) {
    progress(`idle: connecting up to ${target} clients`);
    const cpuBefore = cpuSnapshot(setup);
    const generatorsBefore = workers.cpuMicros();
    const writtenBefore = replicasWrittenBytes(setup);
    const reports = await workers.connect(setup.url, target - connected);
    presenceMark = probes.presenceMark();
    const cpuAfter = cpuSnapshot(setup);
    const generatorsAfter = workers.cpuMicros();
    const writtenAfter = replicasWrittenBytes(setup);
    const added = sum(reports.map((report) => report.connected)) - connected;
    connected += added;
    const now = await memory(setup, inspectors);
    const per = (from: number, to: number) => Math.round((to - from) / added);
    steps.push({
      clients: connected,
      failed: sum(reports.map((report) => report.failed)),
      connectMs: Math.round(Math.max(...reports.map((report) => report.connectMs))),
      connectCost: {
        replicaCpuMicros: per(cpuBefore.replicas, cpuAfter.replicas),
        replicaMainThreadCpuMicros: per(cpuBefore.replicasMainThreads, cpuAfter.replicasMainThreads),
        frontCpuMicros: per(cpuBefore.front, cpuAfter.front),
        generatorCpuMicros: per(generatorsBefore, generatorsAfter),
        replicaBytesWritten: per(writtenBefore, writtenAfter),
      },
      perConnection: {
        replicaHeap: per(before.replicas.heapUsed, now.replicas.heapUsed),
        replicaRss: per(before.replicas.rss, now.replicas.rss),
        front: per(before.front, now.front),
        redis: per(before.redis, now.redis),
      },
    });
    before = now;
  }
  progress(`idle: ${connected} clients, nobody talking, for 2 × ${PLAN.backgroundMs / 1000} s`);
  const afterConnect = await replicasCpuMsPerSecond(setup, PLAN.backgroundMs);
  // The update's garbage, thousands of writes, is otherwise collected seconds later, in the steady window.
  await probes.presenceSince(presenceMark);
  await Promise.all(inspectors.map((inspector) => inspector.collectGarbage()));
  const background = {
    clients: connected,
    afterConnectCpuMsPerSecond: afterConnect,
    replicaCpuMsPerSecond: await replicasCpuMsPerSecond(setup, PLAN.backgroundMs),
  };
  await workers.disconnect(setup, PROBES_PER_REPLICA);
  return { steps, background };
}

/**
 * Where a connect's time goes in the first replica: sampled while `profiledConnects` clients
 * connect through the front (a quarter of them to that replica) to a crowd of as many, as in the
 * idle step's large step, once the other scenarios have left only the probes. The samples are of
 * wall time: on the two shared cores a thread waiting for a core counts as running, so this says
 * where a connect's time goes, not what it costs (the idle step says that).
 */
async function profileConnects(setup: RunningSetup, workers: LoadWorkers, inspector: Inspector): Promise<ConnectProfile> {
  progress(`profiling replica 1 while ${PLAN.profiledConnects} clients connect to as many`);
  await workers.connect(setup.url, PLAN.profiledConnects);
  const before = await connectionsOf(setup.replicas[0]!.url);
  const summary = await inspector.profile(() => workers.connect(setup.url, PLAN.profiledConnects), CONNECT_SAMPLING_MICROS);
  const connections = (await connectionsOf(setup.replicas[0]!.url)) - before;
  await workers.disconnect(setup, PROBES_PER_REPLICA);
  const micros = (share: number) => round((share * summary.durationMs * 1000) / connections, 1);
  const busy = Object.entries(summary.byPackage).filter(([where]) => where !== '(idle)');
  return {
    connections,
    busyMicrosPerConnection: micros(sum(busy.map(([, share]) => share))),
    byPackage: Object.fromEntries(busy.map(([where, share]) => [where, micros(share)])),
    topFunctions: summary.topFunctions
      .filter((entry) => entry.function !== '(idle)')
      .map((entry) => ({ function: entry.function, micros: micros(entry.share) })),
  };
}

/**
 * What the first replica's heap gains per idle connection, by constructor: two heap snapshots
 * around `heapDiffClients` clients. Last, once the other scenarios have left only the probes: the
 * heap is small again (a snapshot of thousands of connections takes half a minute), the code the
 * clients run is compiled already and not counted as theirs, and nothing is measured after the
 * snapshots.
 */
async function measureHeapDiff(setup: RunningSetup, workers: LoadWorkers, inspector: Inspector): Promise<HeapDiffSummary> {
  progress(`heap snapshots of replica 1 around ${PLAN.heapDiffClients} idle clients`);
  const census = await inspector.heapCensus();
  await workers.connect(setup.url, PLAN.heapDiffClients);
  const added = (await connectionsOf(setup.replicas[0]!.url)) - PROBES_PER_REPLICA;
  const summary = diffCensus(census, await inspector.heapCensus(), added);
  await workers.disconnect(setup, PROBES_PER_REPLICA);
  return summary;
}

async function connectionsOf(replicaUrl: string): Promise<number> {
  return ((await (await fetch(`${replicaUrl}/healthz`)).json()) as { connections: number }).connections;
}

/** Progress on stderr, with the seconds since the start. */
const began = performance.now();
const progress = (what: string) => console.error(`  [${((performance.now() - began) / 1000).toFixed(0)} s] ${what}`);

/** The reference setup also leaves a profile and a heap diff of its first replica. */
interface Extras {
  profile: ProfileSummary | null;
  heap: HeapDiffSummary | null;
}

async function measureSetup(name: SetupName, workers: LoadWorkers, extras: Extras | undefined, baselineEntry?: string): Promise<SetupResult> {
  progress('starting');
  const setup = await startSetup(name, BASE_PORT, baselineEntry);
  const inspectors = await Promise.all(setup.replicas.map((replica) => Inspector.attach(replica.logFile)));
  let probes: Probes | undefined;
  try {
    probes = await Probes.connect(setup);
    const { steps: idle, background } = await measureIdle(setup, workers, inspectors, probes);
    await workers.connect(setup.url, PLAN.clients);
    progress(`fan-out: ${PLAN.clients} clients, ${PLAN.messagesPerSecond} messages/s, ${PLAN.windows} × ${PLAN.windowMs / 1000} s`);
    const fanout = await runScenario(setup, probes, workers, PLAN.clients, PLAN.messagesPerSecond, false);
    if (extras) {
      progress('profiling replica 1 during one more window');
      extras.profile = await inspectors[0]!.profile(() => workers.send(PLAN.messagesPerSecond, PLAN.windowMs, false));
    }
    await workers.disconnect(setup, PROBES_PER_REPLICA);
    let rooms: Scenario | null = null;
    if (setup.definition.rooms) {
      // Each room's members all on one replica, PLAN.rooms / replicas rooms per replica: the layout in
      // which the classic adapter hands each replica packets for rooms it has nobody in.
      const names = Array.from({ length: PLAN.rooms }, (_, n) => `bench-${n + 1}`);
      const roomsByInstance: Record<string, string[]> = Object.fromEntries(
        setup.replicas.map((replica, index) => [replica.number, names.filter((_, n) => n % setup.replicas.length === index)]),
      );
      const [creator] = probes.sockets;
      for (const room of names) await creator!.timeout(10_000).emitWithAck('create room', room);
      for (const [n, socket] of probes.sockets.entries())
        for (const room of roomsByInstance[setup.replicas[n]!.number]!) await socket.timeout(10_000).emitWithAck('join', room);
      await workers.connect(setup.url, PLAN.clients, roomsByInstance);
      progress(`rooms: ${PLAN.clients} clients over ${PLAN.rooms} rooms, each on one replica, ${PLAN.roomMessagesPerSecond} messages/s`);
      rooms = await runScenario(setup, probes, workers, PLAN.clients, PLAN.roomMessagesPerSecond, true);
      await workers.disconnect(setup, PROBES_PER_REPLICA);
    }
    let saturation: Scenario | null = null;
    if (setup.definition.saturation) {
      const { clients, messagesPerSecond } = PLAN.saturation;
      await workers.connect(setup.replicas[0]!.url, clients);
      progress(`saturation: ${clients} clients on replica 1, ${messagesPerSecond} messages/s`);
      saturation = await runScenario(setup, probes, workers, clients, messagesPerSecond, false);
      await workers.disconnect(setup, PROBES_PER_REPLICA);
    }
    if (CONNECT_PROFILED.includes(name)) connectProfiles[name] = await profileConnects(setup, workers, inspectors[0]!);
    if (extras) extras.heap = await measureHeapDiff(setup, workers, inspectors[0]!);
    return { setup: name, about: setup.definition.about, idle, background, fanout, rooms, saturation };
  } finally {
    probes?.close();
    for (const inspector of inspectors) inspector.close();
    progress('stopping');
    await setup.stop();
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const median = (scenario: Scenario | null, figure: string) => scenario?.spread[figure]?.median;
const range = (scenario: Scenario | null, figure: string) => {
  const spread = scenario?.spread[figure];
  return spread ? `${spread.median} (${spread.min}-${spread.max})` : '–';
};

/** The replicas' samples of one metric, summed label by label. */
function totalByLabels(perReplica: Record<string, number>[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const samples of perReplica) for (const [labels, value] of Object.entries(samples)) totals[labels] = (totals[labels] ?? 0) + value;
  return totals;
}

const windowsOf = (result: SetupResult) => [result.fanout, result.rooms, result.saturation].flatMap((scenario) => scenario?.windows ?? []);

function printTable(results: SetupResult[]): void {
  console.table(
    results.map((result) => {
      const top = result.idle.at(-1)!;
      return {
        setup: result.setup,
        'idle: clients, failed, connect s': `${top.clients}, ${top.failed}, ${(top.connectMs / 1000).toFixed(1)}`,
        'connect: replica (main thread)|front|generators µs, replica B per conn': `${top.connectCost.replicaCpuMicros} (${top.connectCost.replicaMainThreadCpuMicros}) | ${top.connectCost.frontCpuMicros} | ${top.connectCost.generatorCpuMicros}, ${top.connectCost.replicaBytesWritten}`,
        'KB/conn heap|RSS|front|redis': `${kb(top.perConnection.replicaHeap)} | ${kb(top.perConnection.replicaRss)} | ${kb(top.perConnection.front)} | ${kb(top.perConnection.redis)}`,
        'replica µs/delivery': range(result.fanout, 'replica CPU µs/delivery'),
        'front µs/delivery': range(result.fanout, 'front CPU µs/delivery'),
        'Redis µs/delivery': range(result.fanout, 'Redis CPU µs/delivery'),
        'cross p99 ms': range(result.fanout, 'cross-replica p99 ms'),
        'all scenarios: lost/late/dup': (['lost', 'late', 'duplicated'] as const).map((figure) => sum(windowsOf(result).map((w) => w[figure]))).join('/'),
        'generator cores': median(result.fanout, 'generator cores'),
        // A room's members, its senders included, are all on one replica: every delivery is a same-replica one.
        'rooms: deliveries/s, p99': result.rooms ? `${median(result.rooms, 'deliveries/s')}, ${median(result.rooms, 'same-replica p99 ms')}` : '–',
        'rooms: adapter packets': result.rooms?.adapterPackets ? JSON.stringify(totalByLabels(result.rooms.adapterPackets)) : '–',
        'idle replicas CPU ms/s, after connect | steady': `${result.background.afterConnectCpuMsPerSecond} | ${result.background.replicaCpuMsPerSecond}`,
        'saturation: deliveries/s, replica 1 | all µs/delivery': result.saturation
          ? `${median(result.saturation, 'deliveries/s')}, ${range(result.saturation, 'replica 1 CPU µs/delivery')} | ${range(result.saturation, 'replica CPU µs/delivery')}`
          : '–',
      };
    }),
  );
}

const startedAt = new Date();
// Read now: the commit whose code runs, even if another is made during a run of several minutes.
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
const baseline = baselineRevision ? buildBaseline(baselineRevision) : undefined;
// In the order asked for: runs in different orders tell a setup's cost from its place in the run.
const names = ((onlySetups ?? SETUP_NAMES) as SetupName[]).filter((name) => name !== 'cluster-baseline' || baseline);
const results: SetupResult[] = [];
const extras: Extras = { profile: null, heap: null };
const connectProfiles: Partial<Record<SetupName, ConnectProfile>> = {};
const workers = new LoadWorkers(PLAN.workers);
try {
  for (const name of names) {
    console.log(`— ${name}${name === 'cluster-baseline' ? ` (the server of ${baseline!.commit})` : ''}`);
    results.push(await measureSetup(name, workers, name === 'cluster' ? extras : undefined, baseline?.entry));
  }
} finally {
  await workers.close();
  baseline?.remove();
}
printTable(results);

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
const report: BenchReport = { date: startedAt.toISOString(), commit, baseline: baseline?.commit ?? null, quick, machine, plan: PLAN, results };
mkdirSync(resultsDir, { recursive: true });
const stem = join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-${commit}${quick ? '-quick' : ''}`);
const written: string[] = [];
const write = (file: string, content: string) => {
  writeFileSync(file, content);
  written.push(file);
};
const replicaSummary = (what: object) => `${JSON.stringify({ commit, setup: 'cluster', replica: 1, ...what }, null, 2)}\n`;
write(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
write(`${stem}.svg`, renderChart(report));
if (extras.profile) write(`${stem}-replica-profile.json`, replicaSummary(extras.profile));
if (extras.heap) write(`${stem}-replica-heap.json`, replicaSummary(extras.heap));
if (Object.keys(connectProfiles).length > 0)
  write(`${stem}-connect-profiles.json`, `${JSON.stringify({ commit, baseline: baseline?.commit ?? null, replica: 1, ...connectProfiles }, null, 2)}\n`);
console.log(`results: ${written.join(', ')}`);
