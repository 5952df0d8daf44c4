/**
 * The chat itself: check each handshake, greet each connection with its replica, its name and the
 * history, log each valid message and then broadcast it cluster-wide, and pass on who is typing.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, SendResult, ServerToClientEvents } from '../shared/events.js';
import { parseHandshake, type Handshake } from './handshake.js';
import { parseMessage } from './message.js';
import { CATCH_UP_LIMIT, HISTORY_LIMIT, type Appended, type MessageLog } from './message-log.js';
import type { ChatMetrics } from './metrics.js';

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, Handshake>;
type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, Handshake>;

export interface ChatOptions {
  /** This replica's NODE_NUMBER. */
  instance: string;
  log: MessageLog;
  logger: Logger;
  metrics: ChatMetrics;
  /** Aborted when the server shuts down: background retries stop. */
  signal: AbortSignal;
}

/** Between attempts to read the history while Redis is unavailable. */
const LOG_RETRY_INTERVAL_MS = 1000;

export function registerChatHandlers(io: ChatServer, options: ChatOptions): void {
  const { instance, log, logger, metrics, signal } = options;

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

  io.on('connection', (socket) => {
    const { name } = socket.data;
    socket.emit('welcome', { instance, name });
    // Read after the socket has joined, so that a message logged while this read is under way
    // still reaches it live: it may then arrive twice, and the client keeps one.
    void sendHistory(socket);

    // Both arguments come off the wire, so they are `unknown` here whatever the event types say.
    socket.on('chat message', async (payload: unknown, ack: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (result: SendResult) => void) : undefined;
      const acknowledged = metrics.startAck();

      const parsed = parseMessage(payload);
      if (!parsed.ok) {
        metrics.messageRefused('invalid');
        logger.info({ socket: socket.id, reason: parsed.error }, 'rejected a chat message');
        reply?.({ ok: false, error: parsed.error, retryable: false });
        return;
      }

      let appended: Appended;
      try {
        // A client that sends no key cannot retry safely, but gets a key of its own all the same,
        // so that every append takes the same path.
        appended = await log.append({ name, text: parsed.text, instance, at: Date.now() }, parsed.key ?? randomUUID());
      } catch (err) {
        // Whatever went wrong is on the server's side (Redis down, frozen, slow), so the same
        // message may well succeed when sent again. Expected, so one line and no stack trace.
        metrics.messageRefused('log_unavailable');
        logger.warn({ socket: socket.id, reason: (err as Error).message }, 'could not log a chat message');
        reply?.({ ok: false, error: (err as Error).message, retryable: true });
        return;
      }
      // Only now that it is in the log. io.emit goes through the adapter: with Redis, every replica
      // receives it on its subscription and delivers it to its own clients. A duplicate (a retry
      // of a message logged before) is announced again: its first announcement may never have
      // happened, and clients that did receive it keep one copy.
      if (appended.message) io.emit('chat message', appended.message);
      if (appended.duplicate) metrics.messageDeduplicated();
      else metrics.messageAccepted();
      reply?.({ ok: true, id: appended.id });
      acknowledged();
    });

    // To everyone but this tab, cluster-wide. Not logged: it matters only for the next seconds.
    socket.on('typing', () => {
      socket.broadcast.emit('typing', { name, instance });
    });
  });

  /** The history this socket asked for; while the log cannot be read, tries again every second. */
  async function sendHistory(socket: ChatSocket): Promise<void> {
    const { lastSeenId } = socket.data;
    for (let attempt = 1; socket.connected && !signal.aborted; attempt++) {
      try {
        if (lastSeenId) {
          const missed = await log.after(lastSeenId, CATCH_UP_LIMIT);
          socket.emit('history', missed);
          // A full one may have left older messages out.
          metrics.catchUp('connect', missed.length, missed.length < CATCH_UP_LIMIT);
        } else {
          socket.emit('history', await log.latest(HISTORY_LIMIT));
        }
        return;
      } catch (err) {
        // Expected while Redis is down: the first failure at warn, the retries (every second) at debug.
        logger[attempt === 1 ? 'warn' : 'debug']({ socket: socket.id, reason: (err as Error).message, attempt }, 'could not read the history, retrying');
        await delay(LOG_RETRY_INTERVAL_MS);
      }
    }
  }
}
