/**
 * One road for a message, and why an acknowledged message reaches every connected client of its room.
 *
 * Each room has its own log, and everything below happens per room: a message's id and `prev` are
 * its room's, a client catches up and hears positions room by room.
 *
 * 1. **Logged.** `accept` appends the message to its room's log (server/chat/message-log.ts). The log
 *    gives it its id and records `prev`, the id of the entry before it. Until then it is not a message: if
 *    the append fails, the sender is told so, and nobody else hears of it.
 * 2. **Live.** `io.to(room).emit` hands it to the Redis adapter, which publishes it; every replica
 *    receives it on its subscription and writes it to its own clients in that room (server/chat/rooms.ts).
 *    Then the sender gets `ok: true`.
 * 3. **Gaps filled from the log.** The live path can lose a message silently: the publish failed
 *    (Redis refused it, this replica's connection dropped between the append and the publish, its
 *    command queue was full), a replica's subscription was down, a replica was paused. The log
 *    does not lose it. Each client knows the id up to which it holds everything (client/catch-up.ts),
 *    and asks `catch up` here whenever it learns that the log goes further:
 *    - a (re)connection: whatever was said while it was away;
 *    - a message whose `prev` it does not hold: something came in between;
 *    - a `position`, the room log's newest id, which every replica sends its clients in that room
 *      every POSITION_INTERVAL_MS when it has moved: something came after (the lost one was the last).
 *    What the log no longer holds (it keeps the newest MESSAGE_LOG_CAPACITY) is reported as
 *    missing (`complete: false`), and the page says so.
 * A message can so arrive twice (live and caught up); the client keeps one, by id, in log order.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_ROOM, type CatchUpResult, type SendResult } from '../../shared/events.js';
import { isLogId } from '../../shared/log-id.js';
import { checkRoomName } from '../../shared/text.js';
import type { ChatServer } from './chat.js';
import { parseMessage } from './message.js';
import { CATCH_UP_PAGE, HISTORY_LIMIT, type Appended, type RoomLogs } from './message-log.js';
import type { ChatMetrics } from '../metrics.js';
import { chatRoomsAmong, socketRoom } from './rooms.js';

interface DeliveryOptions {
  io: ChatServer;
  logs: RoomLogs;
  /** This replica's NODE_NUMBER, stamped on the messages it accepts. */
  instance: string;
  logger: Logger;
  metrics: ChatMetrics;
  /** How often to send clients the log's newest id; 0: never. */
  positionIntervalMs: number;
  /** Aborted when the server shuts down. */
  signal: AbortSignal;
}

/** Who sent a `chat message` or a `catch up`: only a room's members may speak in it or read it. */
export interface Sender {
  name: string;
  socketId: string;
  isIn(room: string): boolean;
}

export interface Delivery {
  /** Logs `payload` (a `chat message` off the wire) from `sender` in its room, then broadcasts it there. */
  accept(sender: Sender, payload: unknown): Promise<SendResult>;
  /** What a room's log holds after an id (null: the recent conversation), for a client that is behind. */
  catchUp(sender: Sender, request: unknown): Promise<CatchUpResult>;
}

/** `{ room, afterId }`, or a bare afterId for DEFAULT_ROOM (shared/events.ts). */
function parseCatchUpRequest(request: unknown): { ok: true; room: string; afterId: string | null } | { ok: false; error: string } {
  const isAfterId = (value: unknown): value is string | null => value === null || isLogId(value);
  if (typeof request !== 'object' || request === null) {
    return isAfterId(request) ? { ok: true, room: DEFAULT_ROOM, afterId: request } : { ok: false, error: AFTER_ID_ERROR };
  }
  if (Object.keys(request).some((field) => field !== 'room' && field !== 'afterId')) {
    return { ok: false, error: 'catch up takes { room, afterId }, or an afterId' };
  }
  const { room, afterId } = request as { room?: unknown; afterId?: unknown };
  const checked = checkRoomName(room);
  if (!checked.ok) return checked;
  return isAfterId(afterId) ? { ok: true, room: checked.text, afterId } : { ok: false, error: AFTER_ID_ERROR };
}
const AFTER_ID_ERROR = 'afterId must be a message id such as 1700000000000-0, or null';

export function startDelivery(options: DeliveryOptions): Delivery {
  const { io, logs, instance, logger, metrics } = options;

  async function accept(sender: Sender, payload: unknown): Promise<SendResult> {
    const acknowledged = metrics.startAck();
    const parsed = parseMessage(payload);
    if (!parsed.ok) {
      metrics.messageRefused('invalid');
      logger.info({ socket: sender.socketId, reason: parsed.error }, 'rejected a chat message');
      return { ok: false, error: parsed.error, retryable: false };
    }
    const { room } = parsed;
    if (!sender.isIn(room)) {
      metrics.messageRefused('invalid');
      return { ok: false, error: `join room "${room}" before sending to it`, retryable: false };
    }
    let appended: Appended;
    try {
      // A client that sends no key cannot retry safely, but gets a key of its own all the same,
      // so that every append takes the same path.
      appended = await logs(room).append({ name: sender.name, text: parsed.text, instance, at: Date.now() }, parsed.key ?? randomUUID());
    } catch (err) {
      // Whatever went wrong is on the server's side (Redis down, frozen, slow): the same message
      // may well succeed when sent again. Expected, so one line and no stack trace.
      metrics.messageRefused('log_unavailable');
      logger.warn({ socket: sender.socketId, reason: (err as Error).message }, 'could not log a chat message');
      return { ok: false, error: (err as Error).message, retryable: true };
    }
    // A duplicate (a retry of a message logged before) is broadcast again: the first broadcast may
    // never have happened. Clients that did receive it keep one copy.
    if (appended.message) io.to(socketRoom(room)).emit('chat message', appended.message);
    if (appended.duplicate) metrics.messageDeduplicated();
    else metrics.messageAccepted();
    acknowledged();
    return { ok: true, id: appended.id };
  }

  // Clients of one replica that fell behind together (its subscription was down) ask together:
  // those asking for the same page at the same time share one read.
  const readsInFlight = new Map<string, Promise<CatchUpResult>>();

  async function read(room: string, afterId: string | null): Promise<CatchUpResult> {
    const log = logs(room);
    try {
      if (afterId === null) {
        const messages = await log.latest(HISTORY_LIMIT);
        metrics.catchUp('recent', messages.length, true);
        return { ok: true, messages, complete: true, more: false };
      }
      // One more than a page, to know whether there are more.
      const messages = await log.after(afterId, CATCH_UP_PAGE + 1);
      const more = messages.length > CATCH_UP_PAGE;
      if (more) messages.pop();
      // The log keeps only its newest entries: if the first one left does not follow on `afterId`,
      // what came in between is gone.
      const complete = messages.length === 0 || messages[0]!.prev === afterId;
      metrics.catchUp('gap', messages.length, complete);
      return { ok: true, messages, complete, more };
    } catch (err) {
      logger.warn({ room, reason: (err as Error).message }, 'could not read the message log for a catch-up');
      return { ok: false, error: 'the message log (Redis) is unavailable: try again' };
    }
  }

  function catchUp(sender: Sender, request: unknown): Promise<CatchUpResult> {
    const parsed = parseCatchUpRequest(request);
    if (!parsed.ok) return Promise.resolve(parsed);
    const { room, afterId } = parsed;
    if (!sender.isIn(room)) return Promise.resolve({ ok: false, error: `join room "${room}" before catching up on it` });
    const key = `${room} ${afterId ?? 'latest'}`;
    let reading = readsInFlight.get(key);
    if (!reading) {
      reading = read(room, afterId).finally(() => readsInFlight.delete(key));
      readsInFlight.set(key, reading);
    }
    return reading;
  }

  if (options.positionIntervalMs > 0) announcePositions(options);
  return { accept, catchUp };
}

/**
 * Every `positionIntervalMs`, this replica's clients in each room hear that room log's newest id,
 * if it moved. Only rooms with a member here are read.
 */
function announcePositions({ io, logs, logger, positionIntervalMs, signal }: DeliveryOptions): void {
  const announced = new Map<string, string>();
  let reading = false;
  const announce = async (room: string) => {
    try {
      const newest = await logs(room).newestId();
      if (newest !== announced.get(room)) io.local.to(socketRoom(room)).emit('position', { room, id: newest });
      announced.set(room, newest);
    } catch (err) {
      // Expected while Redis is down; /healthz says so, and the next tick tries again.
      logger.debug({ room, reason: (err as Error).message }, 'could not read the log position');
    }
  };
  const timer = setInterval(async () => {
    if (reading) return; // Redis is slow: one round of reads at a time
    reading = true;
    const rooms = chatRoomsAmong(io.of('/').adapter.rooms.keys());
    // A room nobody here is in any more: when someone joins again, they hear its position anew.
    for (const room of announced.keys()) if (!rooms.includes(room)) announced.delete(room);
    await Promise.all(rooms.map(announce));
    reading = false;
  }, positionIntervalMs);
  signal.addEventListener('abort', () => clearInterval(timer));
}
