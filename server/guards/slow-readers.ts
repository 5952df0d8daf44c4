/**
 * A client that stops reading (a stalled network, a malicious script) does not stop the server
 * from writing to it: Engine.IO queues its packets in memory, and every broadcast adds to the pile.
 * Twenty such clients once held 100 MB of a replica for the 45 s the heartbeat needs to notice.
 * Here a connection is closed, queue and all, once its backlog is both long and stuck; if the
 * client is alive after all, it reconnects and catches up from the log.
 */
import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import type { ChatMetrics } from '../metrics.js';

/** Packets queued for one connection before it counts as falling behind: a few hundred messages. */
export const MAX_QUEUED_PACKETS = 500;
/**
 * …and for how long the transport must have taken nothing. A healthy client can have a long queue
 * for an instant (a thousand acknowledgements created in one tick go out on the next), never for long.
 */
const STALL_MS = 2000;

export function closeIfFallingBehind(socket: Socket, logger: Logger, metrics: ChatMetrics): void {
  let queued = 0;
  let lastFlushAt = performance.now();
  // Engine.IO's public events: every packet is created, then flushed to the transport with others
  // whenever the transport can take them. The difference is the backlog.
  socket.conn.on('packetCreate', () => {
    queued += 1;
    if (queued <= MAX_QUEUED_PACKETS || performance.now() - lastFlushAt < STALL_MS || socket.conn.readyState !== 'open') return;
    logger.warn({ socket: socket.id, queued }, 'closing a connection that stopped reading');
    metrics.slowReaderClosed();
    socket.conn.close(true); // true: discard the queue instead of waiting to flush it
  });
  socket.conn.on('flush', (packets: unknown[]) => {
    queued -= packets.length;
    lastFlushAt = performance.now();
  });
}
