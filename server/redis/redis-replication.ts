/**
 * WAIT after an append: a message is acknowledged once the replicas of its shard's primary have it,
 * so that the primary's death cannot take it along. It waits for REDIS_WAIT_REPLICAS of them, or
 * for as many as the primary has online if it has fewer: a shard that lost a node (a replica dead,
 * or a replica promoted and not yet given one of its own) keeps accepting messages with the copies
 * it can make, rather than refusing every message until the node is back. Such an acknowledgement
 * is counted (chat_messages_under_replicated_total) and the change logged once, both ways: a second
 * failure in that shard before it has its replica again can lose those messages.
 */
import type { Logger } from 'pino';
import type { RedisClientType } from 'redis';
import { withTimeout } from '../../shared/with-timeout.js';
import type { ChatMetrics } from '../metrics.js';
import { REDIS_COMMAND_TIMEOUT_MS } from './redis-timeout.js';

/** Redis confirmed a write, but fewer replicas than its primary has online have it: the write could still be lost. */
export class NotReplicatedError extends Error {
  override name = 'NotReplicatedError';
}

/** How long a primary's count of online replicas is used before it is read again (one INFO per node and second, not per message). */
const ONLINE_REPLICAS_TTL_MS = 1000;

/** Replicas in sync with the primary, from its INFO replication: `slave0:ip=…,port=…,state=online,…`. */
function countOnlineReplicas(info: string): number {
  return info.split('\n').filter((line) => /^slave\d+:.*\bstate=online\b/.test(line)).length;
}

/**
 * `replicated(key)` resolves once the replicas described above have every write made so far on the
 * connection of `key`'s node (`nodeFor`: the same connection the append went through), and
 * rejects with NotReplicatedError if they do not within `timeoutMs`.
 */
export function createReplicationCheck(
  options: { replicas: number; timeoutMs: number },
  nodeFor: (key: string) => Promise<RedisClientType>,
  logger: Logger,
  metrics: ChatMetrics,
): (key: string) => Promise<void> {
  const { replicas, timeoutMs } = options;
  const online = new WeakMap<RedisClientType, { count: Promise<number>; readAt: number }>();
  const underReplicated = new WeakSet<RedisClientType>();
  const onlineReplicas = (node: RedisClientType): Promise<number> => {
    const known = online.get(node);
    if (known && performance.now() - known.readAt < ONLINE_REPLICAS_TTL_MS) return known.count;
    const count = withTimeout(node.sendCommand(['INFO', 'replication']), REDIS_COMMAND_TIMEOUT_MS, 'Redis to answer INFO').then((info) =>
      countOnlineReplicas(String(info)),
    );
    online.set(node, { count, readAt: performance.now() });
    // A failed read is not kept: the next message reads again.
    count.catch(() => online.delete(node));
    return count;
  };
  const address = (node: RedisClientType) => {
    const socket = node.options?.socket as { host?: string; port?: number } | undefined;
    return `${socket?.host}:${socket?.port}`;
  };

  return async (key) => {
    if (replicas === 0) return;
    const node = await nodeFor(key);
    const required = Math.min(replicas, await onlineReplicas(node));
    if (required > 0) {
      // Redis answers WAIT itself after timeoutMs; the margin is for the round trip.
      const wait = node.sendCommand(['WAIT', String(required), String(timeoutMs)]);
      const acknowledged = Number(await withTimeout(wait, timeoutMs + REDIS_COMMAND_TIMEOUT_MS, 'Redis to answer WAIT'));
      if (acknowledged < required) throw new NotReplicatedError(`only ${acknowledged} of ${required} Redis replicas confirmed it within ${timeoutMs} ms`);
    }
    if (required < replicas) {
      metrics.messageUnderReplicated();
      if (!underReplicated.has(node)) {
        underReplicated.add(node);
        logger.warn(
          { node: address(node), online: required, wanted: replicas },
          'redis: acknowledging messages with fewer replicas than REDIS_WAIT_REPLICAS: this primary has no more online',
        );
      }
    } else if (underReplicated.delete(node)) {
      logger.info({ node: address(node), replicas }, 'redis: acknowledging messages with REDIS_WAIT_REPLICAS replicas again');
    }
  };
}
