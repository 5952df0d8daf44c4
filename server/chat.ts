import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Server } from 'socket.io';
import type { ChatMessage, ClientToServerEvents, SendResult, ServerToClientEvents } from './events.js';
import { parseMessageText } from './message.js';

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents>;

/** The chat itself: greet each connection, validate each message, broadcast it cluster-wide. */
export function registerChatHandlers(io: ChatServer, instance: string, logger: Logger): void {
  io.on('connection', (socket) => {
    socket.emit('welcome', { instance });

    // Both arguments come off the wire, so they are `unknown` here whatever the event types say.
    socket.on('chat message', (payload: unknown, ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: SendResult) => void) : undefined;

      const parsed = parseMessageText(payload);
      if (!parsed.ok) {
        logger.info({ socketId: socket.id, reason: parsed.error }, 'rejected a chat message');
        reply?.({ ok: false, error: parsed.error });
        return;
      }

      const message: ChatMessage = { id: randomUUID(), text: parsed.text, instance, at: Date.now() };
      // io.emit goes through the adapter. With Redis, every replica receives the message on its
      // subscription and delivers it to its own clients; this replica alone would reach only its own.
      io.emit('chat message', message);
      reply?.({ ok: true, id: message.id });
    });
  });
}
