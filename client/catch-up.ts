/**
 * The client's half of the delivery guarantee (server/chat/delivery.ts). It knows the id up to which it
 * holds every message, learns how far the log goes (from each message's `prev` and id, and from the
 * server's `position`), and asks `catch up` for whatever lies between.
 *
 * No DOM here: the page (client/chat.ts), the Node tests and the soak's clients use it alike.
 */
import type { CatchUpResult, ChatMessage } from '../shared/events.js';
import { compareLogIds } from '../shared/log-id.js';

export interface CatchUpOptions {
  /** Sends `catch up`; resolves with the answer, rejects if none came in time. */
  request(afterId: string | null): Promise<CatchUpResult>;
  /** An answer's messages, some perhaps already shown live: merge them by id. */
  caughtUp(messages: readonly ChatMessage[]): void;
  /** The log no longer holds some of the messages between those held and those received. */
  missing(): void;
}

/**
 * Messages accepted on two replicas can arrive a few milliseconds out of log order, and a position
 * can overtake the message it counts. A gap still open after this long was lost on the way.
 */
const SETTLE_MS = 250;
/** Between attempts while the server cannot read the log. */
const RETRY_MS = 1000;

export class CatchUp {
  /** Every message up to this id is held, or known to be gone. Null until the first answer. */
  #heldThrough: string | null = null;
  /** The newest id known to be in the log. */
  #newest = '0-0';
  /** Messages held beyond a gap, by their `prev`: the gap's far side. */
  readonly #ahead = new Map<string, ChatMessage>();
  #connected = false;
  /** Just (re)connected: whatever was said meanwhile is unknown, so ask whether or not behind. */
  #away = true;
  #asking = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: CatchUpOptions) {}

  /** Null until the first catch-up after connecting was answered. */
  get heldThrough(): string | null {
    return this.#heldThrough;
  }

  /** On every `welcome`: catch up on what was said while away (or, the first time, recently). */
  connected(): void {
    this.#connected = true;
    this.#schedule(0);
  }

  disconnected(): void {
    this.#connected = false;
    this.#away = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A `chat message`, once shown. */
  live(message: ChatMessage): void {
    this.#hold([message]);
    this.#learn(message.id);
  }

  /** A `position`: the log's newest id. */
  position(newestId: string): void {
    this.#learn(newestId);
  }

  #behind(): boolean {
    return this.#away || this.#heldThrough === null || compareLogIds(this.#newest, this.#heldThrough) > 0;
  }

  #learn(id: string): void {
    if (compareLogIds(id, this.#newest) > 0) this.#newest = id;
    if (this.#behind()) this.#schedule(SETTLE_MS);
  }

  /** Moves `heldThrough` along the chain of `prev`s as far as the messages held reach. */
  #hold(messages: readonly ChatMessage[]): void {
    for (const message of messages) {
      if (this.#heldThrough === null || compareLogIds(message.id, this.#heldThrough) > 0) this.#ahead.set(message.prev, message);
    }
    for (let next = this.#heldThrough && this.#ahead.get(this.#heldThrough); next; next = this.#ahead.get(next.id)) {
      this.#ahead.delete(next.prev);
      this.#heldThrough = next.id;
    }
  }

  #schedule(delayMs: number): void {
    if (!this.#connected || this.#asking || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#ask();
    }, delayMs);
  }

  async #ask(): Promise<void> {
    if (!this.#behind()) return; // the gap filled itself while settling
    this.#asking = true;
    const afterId = this.#heldThrough;
    const wasAway = this.#away;
    this.#away = false;
    const result = await this.options.request(afterId).catch((): CatchUpResult => ({ ok: false, error: 'no answer in time' }));
    this.#asking = false;
    if (!result.ok) {
      this.#away ||= wasAway;
      this.#schedule(RETRY_MS);
      return;
    }
    this.options.caughtUp(result.messages);
    if (!result.complete) this.options.missing();
    // The answer is a run of consecutive entries. Complete, it starts right after `afterId`;
    // otherwise (the recent conversation, or a gap that cannot be filled) it starts where it starts.
    const first = result.messages[0];
    if (afterId === null || !result.complete) this.#heldThrough = this.#laterOf(this.#heldThrough, first ? first.prev : '0-0');
    this.#hold(result.messages);
    for (const [prev, message] of this.#ahead) {
      if (this.#heldThrough && compareLogIds(message.id, this.#heldThrough) <= 0) this.#ahead.delete(prev);
    }
    if (result.more) this.#schedule(0);
    // Nothing after what is held: what seemed newer is not in the log (it was reset).
    else if (result.messages.length === 0 && this.#heldThrough) this.#newest = this.#heldThrough;
    else if (this.#behind()) this.#schedule(SETTLE_MS);
  }

  #laterOf(a: string | null, b: string): string {
    return a !== null && compareLogIds(a, b) > 0 ? a : b;
  }
}
