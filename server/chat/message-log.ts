/**
 * The message log: every accepted message, in order, before anyone is told it was accepted. Its ids
 * are the messages' ids (shared/log-id.ts), and each entry names the one before it (`prev`), so a
 * client can tell a gap from its own messages and ask for "everything after X".
 *
 * With Redis it is a capped Redis Stream (server/redis/redis-message-log.ts), shared by every replica and
 * kept across restarts. A single node without Redis uses the in-memory log below, which behaves the
 * same, so `npm run dev` shows the same page.
 */
import type { ChatMessage } from '../../shared/events.js';
import { compareLogIds } from '../../shared/log-id.js';

/** Messages a new client receives when it asks for the recent conversation. */
export const HISTORY_LIMIT = 100;
/** At most this many messages in one `catch up` answer; a client further behind asks again. */
export const CATCH_UP_PAGE = 500;
/** How long a message key is remembered, so that a retry within it is recognised. */
export const MESSAGE_KEY_TTL_SECONDS = 15 * 60;

/** A message as a replica accepted it, before its room's log gives it its place. */
export type NewMessage = Omit<ChatMessage, 'id' | 'prev' | 'room'>;

/**
 * What `append` did. A duplicate (its key was appended already) logged nothing new, and carries the
 * first message, unless that has since been trimmed from the log.
 */
export type Appended = { duplicate: false; id: string; message: ChatMessage } | { duplicate: true; id: string; message: ChatMessage | undefined };

/** One room's log. */
export interface MessageLog {
  /**
   * Appends `message`, unless a message with the same `key` was appended within
   * MESSAGE_KEY_TTL_SECONDS. Rejects with a message fit for the sender when the log cannot be
   * written (Redis down, frozen or too slow): the caller must then not announce the message.
   */
  append(message: NewMessage, key: string): Promise<Appended>;
  /** The newest `limit` messages, oldest first. */
  latest(limit: number): Promise<ChatMessage[]>;
  /** The oldest `limit` messages with an id after `id`, oldest first. */
  after(id: string, limit: number): Promise<ChatMessage[]>;
  /** The newest message's id, `0-0` while the log is empty. */
  newestId(): Promise<string>;
}

/** Each room's log, by room name (shared/text.ts: checkRoomName). */
export type RoomLogs = (room: string) => MessageLog;

/** `create`'s log of each room, made when first asked for. */
export function roomLogs(create: (room: string) => MessageLog): RoomLogs {
  const logs = new Map<string, MessageLog>();
  return (room) => {
    let log = logs.get(room);
    if (!log) {
      log = create(room);
      logs.set(room, log);
    }
    return log;
  };
}

/** A room's log on a single node: the same contract, in this process's memory, `capacity` entries. */
export function createMemoryLog(room: string, capacity: number): MessageLog {
  const entries: ChatMessage[] = [];
  const idsByKey = new Map<string, { id: string; expires: number }>();
  let lastTime = 0;
  let sequence = 0;

  // Ids like Redis makes them: the current millisecond, and a sequence within it.
  function nextId(): string {
    const now = Date.now();
    if (now > lastTime) [lastTime, sequence] = [now, 0];
    else sequence += 1;
    return `${lastTime}-${sequence}`;
  }

  function forgetExpiredKeys(now: number): void {
    for (const [key, { expires }] of idsByKey) {
      if (expires > now) break; // insertion order is expiry order
      idsByKey.delete(key);
    }
  }

  return {
    append: async (message, key) => {
      const now = Date.now();
      forgetExpiredKeys(now);
      const known = idsByKey.get(key);
      if (known) return { duplicate: true, id: known.id, message: entries.find((entry) => entry.id === known.id) };

      const logged = { room, id: nextId(), prev: entries.at(-1)?.id ?? '0-0', ...message };
      entries.push(logged);
      if (entries.length > capacity) entries.shift();
      idsByKey.set(key, { id: logged.id, expires: now + MESSAGE_KEY_TTL_SECONDS * 1000 });
      return { duplicate: false, id: logged.id, message: logged };
    },
    latest: async (limit) => entries.slice(-limit),
    after: async (id, limit) => entries.filter((entry) => compareLogIds(entry.id, id) > 0).slice(0, limit),
    newestId: async () => entries.at(-1)?.id ?? '0-0',
  };
}
