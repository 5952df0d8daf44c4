import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { createClient } from 'redis';

/** The Redis adapter and the two connections it runs on. */
export interface RedisAdapterConnection {
  /** Pass to Socket.IO's `adapter` option: broadcasts then reach clients of every replica. */
  adapter: ReturnType<typeof createAdapter>;
  /** True while both connections are ready; /healthz reports it. */
  isUp(): boolean;
  /** Closes both connections. Call after `io.close()`, which stops the adapter using them. */
  close(): Promise<void>;
}

/**
 * Connects the two Redis clients the adapter needs and resolves once both are ready, so the
 * replica never accepts a client it could not broadcast for. While Redis is unreachable, node-redis
 * keeps retrying (and this promise keeps waiting); every failure is logged.
 */
export async function connectRedisAdapter(url: string, logger: Logger): Promise<RedisAdapterConnection> {
  // A connection in subscriber mode can run no other command, so publishing needs a second one.
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();

  // Without an 'error' listener, a Redis outage would crash the process; node-redis reconnects by
  // itself, and the adapter re-subscribes its channels when the subscriber is back.
  pubClient.on('error', (err: Error) => logger.error({ err }, 'redis publisher: %s', err.message));
  subClient.on('error', (err: Error) => logger.error({ err }, 'redis subscriber: %s', err.message));

  logger.info('connecting to Redis at %s', redactPassword(url));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  return {
    adapter: createAdapter(pubClient, subClient),
    // Both, not just the publisher: the subscriber turns ready only once it has re-subscribed after
    // a reconnect, and until then this replica would miss the others' messages.
    isUp: () => pubClient.isReady && subClient.isReady,
    close: async () => {
      await Promise.all([pubClient.close(), subClient.close()]);
    },
  };
}

function redactPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}
