/**
 * The shape of a run's results, `lab/bench/results/<date>-<commit>.json`: what lab/bench/bench.ts
 * writes, and what the suite's quick run reads back.
 */
import type { SetupName } from './setups.js';

export interface Latencies {
  p50: number;
  p99: number;
  count: number;
}

/** CPU time over a window, in µs per delivery, by process. */
export interface CpuPerDelivery {
  replicas: number;
  /** The first replica alone: in the saturation scenario, the one that carries the load. */
  firstReplica: number;
  front: number;
  redis: number;
}

/** One window of messages at a fixed rate. */
export interface Window {
  acknowledged: number;
  expectedDeliveries: number;
  delivered: number;
  /** Missing SETTLE_QUIET_MS after the last delivery (bench.ts), and still missing once none has come for LATE_WITHIN_MS. */
  lost: number;
  /** Missing SETTLE_QUIET_MS after the last delivery, and in after all, before LATE_WITHIN_MS without one (not in `delivered`). */
  late: number;
  /** Deliveries beyond one per member, counted per message id. */
  duplicated: number;
  /** Messages that reached fewer clients than their room has: one replica's share, or a few clients? */
  incompleteMessages: number;
  disconnects: Record<string, number>;
  deliveriesPerSecond: number;
  /** From the probes, one full client per replica: same replica as the sender's, and through Redis. */
  sameReplica: Latencies;
  crossReplica: Latencies | null;
  cpuMicrosPerDelivery: CpuPerDelivery;
  /** The load workers' CPU as a share of one core, and of the machine. */
  generatorCores: number;
  generatorMachineShare: number;
  /** Each Redis process's commands and CPU in the window (a Redis Cluster has six). */
  redisNodes: { port: number; role: string; commands: number; cpuMicros: number }[];
  /** Redis commands per acknowledged message, by command, on the primaries. */
  redisCommandsPerMessage: Record<string, number>;
}

/** The windows of one scenario, and the spread of their figures. */
export interface Scenario {
  messagesPerSecond: number;
  clients: number;
  windows: Window[];
  spread: Record<string, { median: number; min: number; max: number }>;
  /** Per replica, the adapter packets it received with and without members of their room (bench.ts: ADAPTER_PACKETS_METRIC). */
  adapterPackets: Record<string, number>[] | null;
}

export interface IdleStep {
  clients: number;
  failed: number;
  connectMs: number;
  /**
   * Per connection of this step, over its connect: CPU µs of the replicas and of the front, and
   * bytes the replicas wrote (handshakes, greetings, and every update the clients already there got).
   * The generators' CPU is context: they share the two cores with the server, and what they spend
   * moves with the server's pace as well as with the machine's, so it is no yardstick. Of the
   * replicas' CPU, their main threads' (the JavaScript; the rest is V8's helper threads, the
   * collector's among them, and libuv's).
   */
  connectCost: {
    replicaCpuMicros: number;
    replicaMainThreadCpuMicros: number;
    frontCpuMicros: number;
    generatorCpuMicros: number;
    replicaBytesWritten: number;
  };
  /** Bytes per connection added since the step before (the first: since none). */
  perConnection: { replicaHeap: number; replicaRss: number; front: number; redis: number };
}

/**
 * The replicas' CPU with the largest idle step connected and nobody talking: heartbeats, presence,
 * positions, the guards' sweeps, metrics. A cost per second, not per delivery, but inside every
 * window's figure: at a light load it is a large part of it. Over two windows of one crowd period
 * each (PRESENCE_CROWD_SPACING_MS): the first holds the crowd's update for the step's last arrivals,
 * a list to every client; in the second nothing has changed, so nothing is sent.
 */
export interface Background {
  clients: number;
  /** All replicas together, in ms of CPU per second, in the first window. */
  afterConnectCpuMsPerSecond: number;
  /**
   * The same in the second, once the probes have had the crowd's update for the step's arrivals and
   * a full collection has taken its garbage: the steady cost, heartbeats included as they fall.
   */
  replicaCpuMsPerSecond: number;
}

export interface SetupResult {
  setup: SetupName;
  about: string;
  idle: IdleStep[];
  background: Background;
  fanout: Scenario;
  rooms: Scenario | null;
  saturation: Scenario | null;
}

/**
 * Where a connect's time went in replica 1 (lab/bench/bench.ts: profileConnects), in µs per
 * connection: its busy time, by package and by function (self time; the 25 largest functions).
 */
export interface ConnectProfile {
  connections: number;
  busyMicrosPerConnection: number;
  byPackage: Record<string, number>;
  topFunctions: { function: string; micros: number }[];
}

export interface BenchReport {
  date: string;
  commit: string;
  /** The commit of `--baseline`, whose server `cluster-baseline` ran. */
  baseline: string | null;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; node: string };
  /** The sizes and rates of the run (bench.ts: PLAN). */
  plan: object;
  results: SetupResult[];
}
