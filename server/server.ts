import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { createApp } from './app.js';
import { registerChatHandlers, type ChatServer } from './chat/chat.js';
import { startDelivery } from './chat/delivery.js';
import type { Config } from './config.js';
import { closeConnectionsInBatches } from './guards/drain.js';
import { createMemoryLog, roomLogs } from './chat/message-log.js';
import { createMetrics, noMetrics } from './metrics.js';
import { originCheck } from './guards/origin-check.js';
import { createMemoryPresenceStore, startPresence } from './chat/presence.js';
import { connectRedis } from './redis/redis-adapter.js';
import { createRedisMessageLog } from './redis/redis-message-log.js';
import { createRedisPresenceStore } from './redis/redis-presence.js';
import { createRedisRoomStore } from './redis/redis-rooms.js';
import { createMemoryRoomStore, startRooms } from './chat/rooms.js';
import { limitEventRate } from './guards/rate-limit.js';
import { closeSlowReaders } from './guards/slow-readers.js';
import { MAX_MESSAGE_LENGTH } from '../shared/text.js';
import { batchWrites } from './write-batching.js';

/** A replica that is listening. */
export interface RunningChatServer {
  /** The port it listens on (useful with `port: 0`). */
  port: number;
  /**
   * Leaves gracefully (SIGTERM): reports not ready, stops listening, closes its connections in
   * batches so that clients move to other replicas gradually, then closes.
   */
  drain(): Promise<void>;
  /** Disconnects every client at once, stops listening and closes the Redis connections. */
  close(): Promise<void>;
}

/**
 * The largest frame (WebSocket message or long-polling request body) a client may send. A chat
 * message is at most MAX_MESSAGE_LENGTH characters of 4 UTF-8 bytes each, plus its key and Socket.IO's
 * framing; anything much larger is not a chat message. (Socket.IO's default is 1 MB, and a frame
 * of nested arrays that size takes many times its size once parsed.) A larger frame closes that
 * connection, and only that one.
 */
export const MAX_FRAME_BYTES = MAX_MESSAGE_LENGTH * 4 + 4096;

/**
 * Wires the pieces together: Redis (or none), the rooms' message logs, Express, Socket.IO, the
 * delivery of messages, the rooms, the chat handlers and presence.
 */
export async function startChatServer(config: Config, logger: Logger): Promise<RunningChatServer> {
  const metrics = config.metrics ? createMetrics() : noMetrics();
  const target = config.redisUrl ? { url: config.redisUrl } : config.redisClusterNodes ? { clusterNodes: config.redisClusterNodes } : undefined;
  const redis = target ? await connectRedis(target, { adapter: config.redisAdapter, replication: config.replication }, logger, metrics) : undefined;
  if (!redis) logger.info('neither REDIS_URL nor REDIS_CLUSTER_NODES is set: single node, in-memory adapter, rooms and message logs');
  const logs = roomLogs((room) =>
    redis && config.features.redisLog ? createRedisMessageLog(redis, room, config.logCapacity, logger, metrics) : createMemoryLog(room, config.logCapacity),
  );
  const stopping = new AbortController();

  let draining = false;

  const app = createApp({
    instance: config.instance,
    metrics: config.metrics ? metrics.registry : undefined,
    health: async () => ({
      instance: config.instance,
      redis: redis ? ((await redis.isHealthy()) ? 'up' : 'down') : 'none',
      connections: io.engine.clientsCount,
      draining,
    }),
  });
  const httpServer = createServer(app);
  // The WebSocket connections, so that closing can cut the ones whose clients do not answer.
  const webSockets = new Set<Duplex>();
  // One listener for all of them (`this` is the connection that closed), rather than a closure each.
  function forget(this: Duplex) {
    webSockets.delete(this);
  }
  httpServer.on('upgrade', (_request, connection: Duplex) => {
    webSockets.add(connection);
    connection.on('close', forget);
  });
  const io: ChatServer = new Server(httpServer, {
    adapter: redis?.adapter,
    maxHttpBufferSize: MAX_FRAME_BYTES,
    allowRequest: originCheck(config.allowedOrigins, () => metrics.connectionRefused('origin')),
    pingInterval: config.heartbeat.intervalMs,
    pingTimeout: config.heartbeat.timeoutMs,
  });
  metrics.watch(io);
  batchWrites(io.engine);
  if (config.features.guards) {
    io.on('connection', (socket) => limitEventRate(socket, config.rateLimit, metrics));
    closeSlowReaders(io, logger, metrics, stopping.signal);
  }
  const delivery = startDelivery({
    io,
    logs,
    instance: config.instance,
    logger,
    metrics,
    positionIntervalMs: config.positionIntervalMs,
    signal: stopping.signal,
  });
  const rooms = startRooms({
    io,
    store: redis ? createRedisRoomStore(redis.commands) : createMemoryRoomStore(),
    limit: config.roomLimit,
    logger,
    signal: stopping.signal,
  });
  registerChatHandlers(io, { instance: config.instance, delivery, rooms, metrics });
  const presence = config.features.presence
    ? startPresence({
        io,
        store: redis ? createRedisPresenceStore(redis.commands, logger, metrics) : createMemoryPresenceStore(),
        instance: config.instance,
        url: config.publicUrl,
        logger,
        metrics,
        timings: config.presence,
        signal: stopping.signal,
      })
    : undefined;

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, resolve);
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening on port %d', port);

  async function close(): Promise<void> {
    stopping.abort();
    // Off the cluster panel at once, rather than when the report expires. Best effort: Redis may be down.
    await presence?.withdraw().catch(() => {});
    // io.close() also closes the HTTP server; closing only that would leave WebSockets open.
    const cutUnanswered = setTimeout(() => {
      if (webSockets.size > 0) logger.warn({ connections: webSockets.size }, 'cutting WebSockets whose clients did not answer the close');
      for (const connection of webSockets) connection.destroy();
    }, config.drain.closeGraceMs);
    await io.close();
    clearTimeout(cutUnanswered);
    await redis?.close();
  }

  return {
    port,
    drain: async () => {
      draining = true;
      // No new connections: the proxy's next attempt to reach this replica is refused, so it
      // sends the client to another one (nginx: proxy_next_upstream) and marks this one down.
      httpServer.close();
      logger.info({ connections: io.of('/').sockets.size }, 'draining: closing connections in batches');
      metrics.drainStarted();
      metrics.drainClosed(io.of('/').sockets.size);
      await closeConnectionsInBatches(io, config.drain.spreadMs);
      await close();
    },
    close,
  };
}
