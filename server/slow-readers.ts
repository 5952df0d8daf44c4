/**
 * A client that stops reading (a stalled network, a malicious script) does not stop the server
 * from writing to it: Engine.IO queues its packets in memory, and every broadcast adds to the pile.
 * Twenty such clients once held 100 MB of a replica for the 45 s the heartbeat needs to notice.
 * Here a connection whose queue passes a bound is closed at once, queue and all; if the client is
 * alive after all, it reconnects and catches up from the log.
 */
import type { Logger } from 'pino';
import type { Socket } from 'socket.io';

/** Packets queued for one connection, at most: a few hundred messages of backlog. */
export const MAX_QUEUED_PACKETS = 500;

export function closeIfFallingBehind(socket: Socket, logger: Logger, maxQueued = MAX_QUEUED_PACKETS): void {
  let queued = 0;
  // Engine.IO's public events: every packet is created, then flushed to the transport with others
  // when the transport can take them. The difference is the backlog.
  socket.conn.on('packetCreate', () => {
    queued += 1;
    if (queued <= maxQueued || socket.conn.readyState !== 'open') return;
    logger.warn({ socketId: socket.id, queued }, 'closing a connection that stopped reading');
    socket.conn.close(true); // true: discard the queue instead of waiting to flush it
  });
  socket.conn.on('flush', (packets: unknown[]) => {
    queued -= packets.length;
  });
}
