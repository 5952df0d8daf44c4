/**
 * The messages a client holds, in log order, each once. The same message can arrive twice, live
 * and in a catch-up (client/catch-up.ts): merging by id makes that harmless.
 *
 * No DOM here: the page (client/chat.ts) and the Node tests use it alike.
 */
import type { ChatMessage } from '../shared/events.js';
import { compareLogIds } from '../shared/log-id.js';

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
}
