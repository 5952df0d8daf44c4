/**
 * What a replica says about each of its connections to Redis: one line when it is lost (or cannot
 * be made at start), one when it is back, and nothing in between. node-redis reports every failed
 * reconnection attempt, several a second, and a Redis restart would otherwise print a dozen lines
 * per replica, each with a stack trace, burying anything that matters. A lost connection is
 * expected (Redis restarts, the network blinks), so its line carries the reason and no stack
 * trace; an error of any other kind is logged in full, every time.
 */
import type { Logger } from 'pino';
import { ConnectionTimeoutError, ErrorReply, SocketClosedUnexpectedlyError, type RedisClientType } from 'redis';
import type { ChatMetrics, RedisConnectionName } from '../metrics.js';

/** System error codes of a connection that failed or broke: Redis is gone, not this code wrong. */
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function isConnectionFailure(err: Error): boolean {
  return (
    err instanceof SocketClosedUnexpectedlyError || err instanceof ConnectionTimeoutError || NETWORK_ERROR_CODES.has((err as NodeJS.ErrnoException).code ?? '')
  );
}

export function reportOutages(client: RedisClientType, connection: RedisConnectionName, logger: Logger, metrics: ChatMetrics): void {
  let everReady = false;
  /** When the current outage began, once it has been reported. */
  let downSince: number | undefined;

  const lost = (err: Error) => {
    // Redis answered, with an error (a wrong password after a restart, say): its message is the
    // reason, and its stack trace would only show node-redis's parser.
    const expected = isConnectionFailure(err) || err instanceof ErrorReply;
    if (!expected) {
      logger.error({ err, connection }, 'redis: unexpected error: %s', err.message);
      return;
    }
    if (downSince !== undefined) {
      logger.debug({ connection, reason: err.message }, 'redis: still reconnecting');
      return;
    }
    downSince = performance.now();
    metrics.redisConnection(connection, false);
    const level = err instanceof ErrorReply ? 'error' : 'warn';
    logger[level]({ connection, reason: err.message }, everReady ? 'redis: connection lost, reconnecting' : 'redis: cannot connect yet, retrying');
  };

  // node-redis is ready again once reconnected (and, for the subscriber, subscribed again).
  const ready = () => {
    metrics.redisConnection(connection, true);
    if (downSince !== undefined) {
      logger.info({ connection, downSeconds: Number(((performance.now() - downSince) / 1000).toFixed(1)) }, 'redis: connection restored');
    }
    everReady = true;
    downSince = undefined;
  };

  client.on('error', lost);
  client.on('ready', ready);
  // A Redis Cluster client reports each of its node connections apart: one node lost is the outage.
  const cluster = client as unknown as NodeJS.EventEmitter;
  cluster.on('node-error', lost);
  cluster.on('node-ready', ready);
}
