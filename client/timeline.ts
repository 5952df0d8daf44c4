/**
 * The messages a client holds, in log order, each once. Messages arrive live (`chat message`) and
 * in batches (`history`: on connecting, after a reconnect, after a replica's Redis subscription
 * came back), and the same message can come both ways: merging by id makes that harmless.
 *
 * No DOM here: the page (client/chat.ts) and the Node tests use it alike.
 */
import type { ChatMessage } from '../shared/events.js';
import { compareLogIds, logIdBefore, logIdTime } from '../shared/log-id.js';

/**
 * How far back a reconnecting client asks for messages, before the newest one it holds. Messages
 * accepted on different replicas can reach a client a few milliseconds out of log order, so one it
 * has not received yet may be older than the newest it has. Asking from a little earlier closes
 * that gap; what it already holds is dropped by id.
 */
export const CATCH_UP_MARGIN_MS = 5000;

/** A message that was new to the timeline, and the one it now comes before (undefined: the last). */
export interface Placed {
  message: ChatMessage;
  before: ChatMessage | undefined;
}

export class Timeline {
  /** In log order. */
  readonly #messages: ChatMessage[] = [];
  readonly #ids = new Set<string>();

  /** Adds the messages it does not hold yet, in log order, and says where each one went. */
  merge(messages: readonly ChatMessage[]): Placed[] {
    const placed: Placed[] = [];
    for (const message of [...messages].sort((a, b) => compareLogIds(a.id, b.id))) {
      if (this.#ids.has(message.id)) continue;
      this.#ids.add(message.id);
      // Nearly always the newest: search from the end.
      let index = this.#messages.length;
      while (index > 0 && compareLogIds(this.#messages[index - 1]!.id, message.id) > 0) index -= 1;
      this.#messages.splice(index, 0, message);
      placed.push({ message, before: this.#messages[index + 1] });
    }
    return placed;
  }

  get messages(): readonly ChatMessage[] {
    return this.#messages;
  }

  /**
   * What to send as `lastSeenId` when (re)connecting: just before the newest message held, by
   * CATCH_UP_MARGIN_MS. Undefined while empty, which asks for the most recent messages instead.
   */
  catchUpCursor(): string | undefined {
    const newest = this.#messages.at(-1);
    return newest && logIdBefore(logIdTime(newest.id), CATCH_UP_MARGIN_MS);
  }
}
