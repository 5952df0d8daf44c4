/**
 * A client that stops reading (a stalled network, a malicious script) does not stop the server
 * from writing to it: Engine.IO queues its packets in memory, and every broadcast adds to the pile.
 * Twenty such clients once held 100 MB of a replica for the 45 s the heartbeat needs to notice.
 * Here a connection is closed, queue and all, once its backlog is both long and stuck; if the
 * client is alive after all, it reconnects and catches up from the log.
 */
import type { Logger } from 'pino';
import type { ChatServer } from '../chat/chat.js';
import type { ChatMetrics } from '../metrics.js';

/** Packets queued for one connection before it counts as falling behind: a few hundred messages. */
export const MAX_QUEUED_PACKETS = 500;
/**
 * …and for how long the transport must have taken nothing. A healthy client can have a long queue
 * for an instant (a thousand acknowledgements created in one tick go out on the next), never for long.
 */
const STALL_MS = 2000;

/** Engine.IO's queue of a connection's packets not yet handed to the transport (private in its types). */
type Queue = unknown[];
const queueOf = (socket: { conn: object }) => (socket.conn as { writeBuffer: Queue }).writeBuffer;

/**
 * Every STALL_MS, looks at each connection's queue. Engine.IO replaces it with a new array each time
 * it hands the packets to the transport, so a long queue that is still the same array a sweep later
 * has been stuck for at least STALL_MS. (Listening to every connection's `packetCreate` and `flush`
 * cost two calls per delivery and two closures per connection; a sweep costs neither.)
 */
export function closeSlowReaders(io: ChatServer, logger: Logger, metrics: ChatMetrics, signal: AbortSignal): void {
  /** The long queues of the previous sweep, by connection. */
  let long = new Map<string, Queue>();
  const timer = setInterval(() => {
    const next = new Map<string, Queue>();
    for (const socket of io.of('/').sockets.values()) {
      const queue = queueOf(socket);
      if (queue.length <= MAX_QUEUED_PACKETS || socket.conn.readyState !== 'open') continue;
      if (long.get(socket.id) !== queue) {
        next.set(socket.id, queue);
        continue;
      }
      logger.warn({ socket: socket.id, queued: queue.length }, 'closing a connection that stopped reading');
      metrics.slowReaderClosed();
      socket.conn.close(true); // true: discard the queue instead of waiting to flush it
    }
    long = next;
  }, STALL_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
