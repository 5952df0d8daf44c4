/**
 * Messages the user typed that the server has not acknowledged yet. Each is sent, in order, until
 * the server says it is in the log: across a Redis outage, a failover to another replica, a
 * network blip. Every message carries a key of its own, so a retry of a message the server had in
 * fact logged (its answer was lost) is recognised there and logged once.
 *
 * No DOM here: the page (client/chat.ts) shows the items, and the Node tests use it alike.
 */
import type { OutgoingMessage, SendResult } from '../shared/events.js';

export interface OutboxItem {
  readonly key: string;
  readonly text: string;
  /** The room it is said in. */
  readonly room: string;
  /** `failed`: refused for good (for example too long); the user may edit or retry it. */
  state: 'pending' | 'failed';
  /** Why the last attempt did not succeed, if one did not. */
  error: string | undefined;
  attempts: number;
}

interface OutboxOptions {
  /** Sends one message; resolves with the server's answer, rejects if none came in time. */
  send(message: OutgoingMessage): Promise<SendResult>;
  /** Whether sending makes sense now (connected). `flush()` is called when that changes. */
  canSend(): boolean;
  /** An item was added, or its state or error changed. */
  onChange(item: OutboxItem): void;
  /** The server logged the item as message `id`; it has left the outbox. */
  onAccepted(item: OutboxItem, id: string): void;
}

/** Waits between attempts: 0.5 s, 1 s, 2 s … up to 10 s, each ±20 % so that clients spread out. */
function retryDelayMs(attempts: number): number {
  const base = Math.min(500 * 2 ** (attempts - 1), 10_000);
  return base * (0.8 + Math.random() * 0.4);
}

/** 128 random bits, URL-safe. crypto.getRandomValues works on plain http too, unlike randomUUID. */
function newMessageKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

export class Outbox {
  readonly #items: OutboxItem[] = [];
  #sending = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: OutboxOptions) {}

  /** Queues `text`, to be said in `room`, and sends it as soon as the messages before it are through. */
  add(text: string, room: string): OutboxItem {
    const item: OutboxItem = { key: newMessageKey(), text, room, state: 'pending', error: undefined, attempts: 0 };
    this.#items.push(item);
    this.options.onChange(item);
    this.flush();
    return item;
  }

  /** Queues a failed item again, behind the others. */
  retry(key: string): void {
    const index = this.#items.findIndex((item) => item.key === key && item.state === 'failed');
    if (index === -1) return;
    const [item] = this.#items.splice(index, 1);
    Object.assign(item!, { state: 'pending', error: undefined, attempts: 0 });
    this.#items.push(item!);
    this.options.onChange(item!);
    this.flush();
  }

  /** Sends now, without waiting for a scheduled retry: call it when the connection is (back) up. */
  flush(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#sendPending();
  }

  /** One message at a time, oldest first, so that they are logged in the order they were typed. */
  async #sendPending(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      for (;;) {
        const item = this.#items.find((candidate) => candidate.state === 'pending');
        if (!item || !this.options.canSend()) return;
        item.attempts += 1;
        const result = await this.options
          .send({ text: item.text, room: item.room, key: item.key })
          .catch((): SendResult => ({ ok: false, error: 'no answer from the server in time', retryable: true }));
        if (result.ok) {
          this.#items.splice(this.#items.indexOf(item), 1);
          this.options.onAccepted(item, result.id);
          continue;
        }
        item.error = result.error;
        if (!result.retryable) {
          item.state = 'failed';
          this.options.onChange(item);
          continue;
        }
        this.options.onChange(item);
        this.#retryTimer = setTimeout(() => this.flush(), retryDelayMs(item.attempts));
        return;
      }
    } finally {
      this.#sending = false;
    }
  }
}
