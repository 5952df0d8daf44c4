/**
 * What the benchmark's measuring process (lab/bench/bench.ts) and its load workers (lab/bench/load-worker.ts)
 * say to each other over Node's IPC channel. A sent message's text carries who sent it, its number
 * and when: `bench <worker>:<seq> <epoch ms with decimals>`.
 */

export type WorkerCommand =
  /**
   * `clients` more clients. With `roomsByInstance`, each then also joins one of the rooms listed for
   * the replica it landed on (its `welcome` says which), in turn: rooms whose members are all on one replica.
   */
  | { command: 'connect'; url: string; addresses: string[]; clients: number; roomsByInstance?: Record<string, string[]> }
  /** Messages at this rate for this long, each from a random client: to `general`, or with `toRooms` to the sender's own room. */
  | { command: 'send'; messagesPerSecond: number; durationMs: number; toRooms: boolean }
  | { command: 'report' }
  /** Closes every client, and forgets them. */
  | { command: 'disconnect' }
  | { command: 'close' };

export interface WorkerReport {
  /** Clients connected, and connection attempts that failed. */
  connected: number;
  failed: number;
  /** Milliseconds to connect the last batch asked for. */
  connectMs: number;
  /** This worker's clients in each room they joined besides `general` (all of them are in `general`). */
  members: Record<string, number>;
  /** Messages this worker sent since the last `send` began and had acknowledged, by room. */
  acknowledged: Record<string, string[]>;
  /** Per message id (`worker:seq`) of any worker: how many of this worker's clients received it. */
  receivedBy: Record<string, number>;
  /**
   * Clients disconnected since the last `send` began, with the reasons. They do not reconnect or
   * catch up (the page does both), so each misses whatever comes after: their deliveries count as lost.
   */
  disconnects: string[];
  /** CPU this worker used since the last `send` began, as a share of one core. */
  cpuShare: number;
}

/** Builds and reads the text of a benchmark message. */
export const benchText = (worker: number, seq: number, sentAt: number) => `bench ${worker}:${seq} ${sentAt.toFixed(3)}`;
export function parseBenchText(text: string): { id: string; sentAt: number } | undefined {
  const match = /^bench (\d+:\d+) (\d+\.\d+)$/.exec(text);
  return match ? { id: match[1]!, sentAt: Number(match[2]) } : undefined;
}

/** Wall-clock time with sub-millisecond precision, comparable across processes on one machine. */
export const preciseNow = () => performance.timeOrigin + performance.now();
