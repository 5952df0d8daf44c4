/**
 * What the benchmark's measuring process (lab/bench/bench.ts) and its load workers (lab/bench/load-worker.ts)
 * say to each other over Node's IPC channel. A sent message's text carries who sent it, its number
 * and when: `bench <worker>:<seq> <epoch ms with decimals>`.
 */

export type WorkerCommand =
  | { command: 'connect'; url: string; addresses: string[]; clients: number }
  | { command: 'send'; messagesPerSecond: number; durationMs: number; phase: string }
  | { command: 'report'; phase: string }
  | { command: 'close' };

export interface WorkerReport {
  phase: string;
  /** Clients connected, and connection attempts that failed. */
  connected: number;
  failed: number;
  /** Milliseconds to connect them all. */
  connectMs: number;
  /** Messages this worker sent in the phase and had acknowledged. */
  acknowledged: string[];
  /** Per message id (`worker:seq`) of any worker: how many of this worker's clients received it. */
  receivedBy: Record<string, number>;
  /** Deliveries that were a second copy to the same client. */
  duplicates: number;
  /**
   * Clients disconnected during the phase, with the reasons. They do not reconnect or catch up (the
   * page does both), so each misses whatever comes after: their deliveries count as lost.
   */
  disconnects: string[];
  /** CPU this worker used during the phase, as a share of one core. */
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
