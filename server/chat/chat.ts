/**
 * The chat's handlers: check each handshake, greet each connection with its replica and its name,
 * pass messages and catch-up requests to the delivery (server/chat/delivery.ts), and pass on who is typing.
 */
import type { Server, Socket } from 'socket.io';
import type { CatchUpResult, ClientToServerEvents, SendResult, ServerToClientEvents } from '../../shared/events.js';
import type { Delivery } from './delivery.js';
import { parseHandshake, type Handshake } from './handshake.js';
import type { ChatMetrics } from '../metrics.js';

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, Handshake>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, Handshake>;

export function registerChatHandlers(io: ChatServer, options: { instance: string; delivery: Delivery; metrics: ChatMetrics }): void {
  const { instance, delivery, metrics } = options;

  io.use((socket, next) => {
    const parsed = parseHandshake(socket.handshake.auth);
    if (!parsed.ok) {
      metrics.connectionRefused('handshake');
      // The client's connect_error: the message says what is wrong, `data` which field.
      return next(Object.assign(new Error(parsed.error), { data: parsed.refusal }));
    }
    socket.data = parsed.handshake;
    next();
  });

  io.on('connection', (socket: ChatSocket) => {
    const { name } = socket.data;
    // The client answers with a `catch up`: it is already receiving live messages by then, so
    // nothing falls between what it is sent and what it reads.
    socket.emit('welcome', { instance, name });

    // Arguments come off the wire, so they are `unknown` here whatever the event types say; a
    // client that sends no acknowledgement callback simply gets no answer.
    socket.on('chat message', async (payload: unknown, ack: unknown) => {
      const result = await delivery.accept({ name, socketId: socket.id }, payload);
      if (typeof ack === 'function') (ack as (result: SendResult) => void)(result);
    });
    socket.on('catch up', async (afterId: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      (ack as (result: CatchUpResult) => void)(await delivery.catchUp(afterId));
    });

    // To everyone but this tab, cluster-wide. Not logged: it matters only for the next seconds.
    socket.on('typing', () => {
      socket.broadcast.emit('typing', { name, instance });
    });
  });
}
