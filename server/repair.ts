/**
 * Making up for broadcasts a replica missed while its Redis subscription was down.
 *
 * Pub/sub delivers only to whoever is subscribed at the moment of publishing: a replica whose
 * subscriber is reconnecting (Redis restarted, the network blinked, the replica was paused) misses
 * those messages for good. But every message is in the log before it is published. So each replica
 * keeps track of the log id up to which it has certainly received every publish, and once it is
 * subscribed again, it reads everything after that id and sends it to its own clients as `history`.
 * Clients merge by id, so what they had received live is not shown twice.
 */
import type { Logger } from 'pino';
import { logIdBefore, logIdTime } from '../shared/log-id.js';
import type { ChatServer } from './chat.js';
import { LOG_CAPACITY, type MessageLog } from './message-log.js';
import type { ChatMetrics } from './metrics.js';
import type { RedisConnection } from './redis-adapter.js';

/** How often a replica moves its "received everything up to here" mark forward. */
export const DELIVERY_CHECK_INTERVAL_MS = 2000;
/**
 * A message is published a moment after it is appended (the accepting replica waits for the
 * append's answer first), so a publish can trail a later append. The repair starts this much
 * earlier, in the log's own clock, to cover any such stragglers.
 */
const PUBLISH_DELAY_MARGIN_MS = 5000;

export async function startRepairs(options: {
  io: ChatServer;
  log: MessageLog;
  redis: RedisConnection;
  logger: Logger;
  metrics: ChatMetrics;
  signal: AbortSignal;
}): Promise<void> {
  const { io, log, redis, logger, metrics, signal } = options;

  const newestId = async () => (await log.latest(1))[0]?.id ?? '0-0';
  /**
   * Every message appended up to this id has been received on the subscription, give or take the
   * margin above. It starts at the log's end: before now, this replica had no clients to miss anything.
   */
  let receivedUpTo = await newestId();
  /** Counts resubscriptions, so that a check that overlapped one does not move the mark. */
  let resubscriptions = 0;
  let repairPending = false;
  let busy = false;

  /** Reads the log's end, then PINGs the subscriber: once that answers, all before it has arrived. */
  async function checkDelivery(): Promise<void> {
    const before = resubscriptions;
    const newest = await newestId();
    await redis.pingSubscriber();
    if (resubscriptions === before) receivedUpTo = newest;
  }

  async function repair(): Promise<void> {
    repairPending = false;
    try {
      const missed = await log.after(logIdBefore(logIdTime(receivedUpTo), PUBLISH_DELAY_MARGIN_MS), LOG_CAPACITY);
      io.local.emit('history', missed);
      metrics.catchUp('gap', missed.length, missed.length < LOG_CAPACITY);
      logger.info({ messages: missed.length, after: receivedUpTo }, 'repair: sent the log since the subscription was lost');
    } catch (err) {
      repairPending = true; // the next step tries again
      throw err;
    }
  }

  async function step(): Promise<void> {
    if (busy || signal.aborted) return;
    busy = true;
    let succeeded = false;
    try {
      await (repairPending ? repair() : checkDelivery());
      succeeded = true;
    } catch (err) {
      // Expected while Redis is down; /healthz and the connection errors already say so.
      logger.debug({ err }, 'repair: %s', (err as Error).message);
    } finally {
      busy = false;
    }
    // A resubscription during that step: repair now rather than at the next tick. (After a
    // failure, wait for the tick: Redis is probably still unavailable.)
    if (succeeded && repairPending) void step();
  }

  redis.onResubscribed(() => {
    resubscriptions += 1;
    repairPending = true;
    void step();
  });
  const timer = setInterval(() => void step(), DELIVERY_CHECK_INTERVAL_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
