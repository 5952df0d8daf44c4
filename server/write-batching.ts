/**
 * One system call per connection for a batch of packets, rather than one per packet.
 *
 * The handshake first: ws writes the HTTP 101 response, and Engine.IO its open packet a turn
 * later (it awaits the session id), each with a system call of its own. Corked from just before
 * the 101 until that turn is over, they are one. Engine.IO's `headers` event comes only for an
 * upgrade it accepts, so that a refusal is written and closed as before.
 *
 * Engine.IO queues a connection's packets while its previous write is in flight, then hands the
 * queue to the WebSocket transport, which writes each packet as a frame of its own, and ws writes
 * each frame with a `writev` of its own. On a busy replica the queue holds several packets (a fan-out
 * of several messages in one tick), so one delivery cost one system call. Corking the TCP socket
 * for the rest of the tick makes the batch one `writev`; a lone packet goes out as before. Neither
 * library has an option for it, so this reaches two private fields (Engine.IO's transport `socket`,
 * ws's `_socket`), checked at each flush: if either changes, batching stops and nothing breaks.
 */
import type { IncomingMessage } from 'node:http';
import type { Server as Engine } from 'engine.io';

/** The TCP socket under a connection's WebSocket, where the libraries keep it today. */
interface Corkable {
  writableCorked: number;
  cork(): void;
  uncork(): void;
}
type Transport = { socket?: { _socket?: Partial<Corkable> } };

export function batchWrites(engine: Engine): void {
  engine.on('headers', (_headers: unknown, request: IncomingMessage) => {
    // A polling response is written once already, by Node's ServerResponse.
    if (request.headers.upgrade === undefined) return;
    const { socket } = request;
    socket.cork();
    setImmediate(() => socket.uncork());
  });
  // `flush` comes just before the transport is handed the packets, all of them synchronously.
  engine.on('flush', (connection: { transport: Transport }, packets: unknown[]) => {
    if (packets.length < 2) return;
    const socket = connection.transport.socket?._socket;
    if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function' || socket.writableCorked) return;
    socket.cork();
    process.nextTick(() => socket.uncork?.());
  });
}
