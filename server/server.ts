import { createServer } from 'node:http';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { createApp } from './app.js';
import { registerChatHandlers, type ChatServer } from './chat.js';
import type { Config } from './config.js';
import { createMemoryLog } from './message-log.js';
import { createMemoryPresenceStore, startPresence } from './presence.js';
import { connectRedis } from './redis-adapter.js';
import { createRedisMessageLog } from './redis-message-log.js';
import { createRedisPresenceStore } from './redis-presence.js';
import { startRepairs } from './repair.js';

/** A replica that is listening. */
export interface RunningChatServer {
  /** The port it listens on (useful with `port: 0`). */
  port: number;
  /** Disconnects every client, stops listening and closes the Redis connections. */
  close(): Promise<void>;
}

/**
 * Wires the pieces together: Redis (or none), the message log, Express, Socket.IO, the chat
 * handlers, presence, and the repair of missed broadcasts.
 */
export async function startChatServer(config: Config, logger: Logger): Promise<RunningChatServer> {
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  if (!redis) logger.info('REDIS_URL is not set: single node, in-memory adapter and message log');
  const log = redis ? createRedisMessageLog(redis.commands, logger) : createMemoryLog();
  const stopping = new AbortController();

  const app = createApp({
    instance: config.instance,
    health: async () => ({
      instance: config.instance,
      redis: redis ? ((await redis.isHealthy()) ? 'up' : 'down') : 'none',
      connections: io.engine.clientsCount,
    }),
  });
  const httpServer = createServer(app);
  const io: ChatServer = new Server(httpServer, { adapter: redis?.adapter });
  registerChatHandlers(io, { instance: config.instance, log, logger, signal: stopping.signal });
  if (redis) await startRepairs({ io, log, redis, logger, signal: stopping.signal });
  const presence = startPresence({
    io,
    store: redis ? createRedisPresenceStore(redis.commands, logger) : createMemoryPresenceStore(),
    instance: config.instance,
    url: config.publicUrl,
    logger,
    signal: stopping.signal,
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, resolve);
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening on port %d', port);

  return {
    port,
    close: async () => {
      stopping.abort();
      // Off the cluster panel at once, rather than when the report expires. Best effort: Redis may be down.
      await presence.withdraw().catch(() => {});
      // io.close() also closes the HTTP server; closing only that would leave WebSockets open.
      await io.close();
      await redis?.close();
    },
  };
}
