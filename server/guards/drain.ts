/**
 * Leaving gracefully, so that a rolling deploy drops no one: stop taking new connections, then
 * close this replica's own connections a batch at a time, with jitter, so that their clients
 * reconnect (through the proxy, to the other replicas) as a trickle rather than a stampede. The
 * outbox and the catch-up by `lastSeenId` make sure nothing is lost on the way.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatServer } from '../chat/chat.js';

/** Connections are closed in this many batches, spread over about `spreadMs` (config: DRAIN_SPREAD_MS). */
const DRAIN_BATCHES = 10;

export async function closeConnectionsInBatches(io: ChatServer, spreadMs: number): Promise<void> {
  // This replica's own sockets. (io.disconnectSockets() would go through the adapter to every
  // replica's.) Closing the connection rather than disconnecting the socket is what makes clients
  // reconnect by themselves: Socket.IO clients do not retry after "io server disconnect".
  const sockets = [...io.of('/').sockets.values()];
  const batchSize = Math.max(1, Math.ceil(sockets.length / DRAIN_BATCHES));
  for (let start = 0; start < sockets.length; start += batchSize) {
    if (start > 0) await delay((spreadMs / DRAIN_BATCHES) * (0.5 + Math.random()));
    for (const socket of sockets.slice(start, start + batchSize)) socket.conn.close(true);
  }
}
