/**
 * The soak's bookkeeping: which acknowledged message reached which client, and how often. Hundreds of
 * clients times thousands of messages is too much for a Timeline per client, so each message is
 * numbered in its text, and each client has one byte per number.
 *
 * The rules are the page's (client/timeline.ts): a message that arrives again in a catch-up (on a
 * reconnect, after a gap) is merged by id and is no duplicate; the same message arriving twice
 * live is one, except across a reconnect, where the replica left and the one joined may both send
 * it; and one message under two log ids was logged twice.
 */

/** The text of soak message number `seq`, which `client` sends. */
export function soakText(seq: number, client: number): string {
  return `soak message ${seq} from client ${client}`;
}

const SOAK_TEXT = /^soak message (\d+) from client \d+$/;

/** Bits of a client's byte for a message: how many times it came live (up to 127), and whether a catch-up brought it. */
const LIVE_COPIES = 0x7f;
const CAUGHT_UP = 0x80;

export interface SoakVerdict {
  /** Messages the clients set out to send (each once, whatever its retries). */
  sent: number;
  acknowledged: number;
  /** Refused for good (not retryable). */
  refused: number;
  /** Still not acknowledged when the chatting ended. */
  unanswered: number;
  /** One per acknowledged message and client that had joined before it was sent. */
  deliveriesExpected: number;
  deliveriesReceived: number;
  lost: number;
  /** Received live more than once by a client that never reconnected. */
  duplicated: number;
  /** Received live twice by a client that reconnected in between: merged by id, as the page does. */
  repeatedAcrossReconnects: number;
  /** Messages that reached clients under two different log ids. */
  loggedTwice: number;
  /** Clients that reconnected at least once. */
  reconnectedClients: number;
  /** Catch-ups that said the log no longer held some messages. */
  missingReported: number;
}

export function soakPassed(verdict: SoakVerdict): boolean {
  return verdict.acknowledged > 0 && verdict.lost === 0 && verdict.duplicated === 0 && verdict.loggedTwice === 0 && verdict.missingReported === 0;
}

export class DeliveryLedger {
  /** Per client, one byte per message number (see LIVE_COPIES, CAUGHT_UP). */
  readonly #received: Uint8Array[];
  /** Per client, how many messages were numbered when it first caught up; undefined until then. */
  readonly #joinedAt: (number | undefined)[];
  readonly #reconnected: boolean[];
  /** Per message number, the log id it was first seen under (acknowledgement or delivery). */
  readonly #ids: (string | undefined)[] = [];
  readonly #acknowledged = new Set<number>();
  readonly #loggedTwice = new Set<number>();
  #numbered = 0;
  #refused = 0;
  #missingReported = 0;

  constructor(
    clients: number,
    /** The most messages the soak may number. */
    private readonly capacity: number,
  ) {
    this.#received = Array.from({ length: clients }, () => new Uint8Array(capacity));
    this.#joinedAt = new Array<number | undefined>(clients).fill(undefined);
    this.#reconnected = new Array<boolean>(clients).fill(false);
  }

  /** The number of a new message. */
  nextMessage(): number {
    if (this.#numbered >= this.capacity) throw new Error(`the soak numbered more than ${this.capacity} messages`);
    return this.#numbered++;
  }

  /** `client` caught up: every message numbered from now on is one it must receive. */
  joined(client: number): void {
    this.#joinedAt[client] ??= this.#numbered;
  }

  reconnected(client: number): void {
    this.#reconnected[client] = true;
  }

  acknowledged(seq: number, id: string): void {
    this.#acknowledged.add(seq);
    this.#sawId(seq, id);
  }

  refused(): void {
    this.#refused += 1;
  }

  /** `client` was told that the log no longer holds some messages it had not received. */
  missing(): void {
    this.#missingReported += 1;
  }

  /** A message `client` received, live or caught up. Messages that are not the soak's are ignored. */
  delivered(client: number, message: { id: string; text: string }, how: 'live' | 'caught up'): void {
    const seq = Number(SOAK_TEXT.exec(message.text)?.[1] ?? NaN);
    if (!(seq < this.#numbered)) return;
    this.#sawId(seq, message.id);
    const received = this.#received[client]!;
    const cell = received[seq]!;
    received[seq] = how === 'caught up' ? cell | CAUGHT_UP : (cell & CAUGHT_UP) | Math.min(LIVE_COPIES, (cell & LIVE_COPIES) + 1);
  }

  verdict(): SoakVerdict {
    const verdict: SoakVerdict = {
      sent: this.#numbered,
      acknowledged: this.#acknowledged.size,
      refused: this.#refused,
      unanswered: this.#numbered - this.#acknowledged.size - this.#refused,
      deliveriesExpected: 0,
      deliveriesReceived: 0,
      lost: 0,
      duplicated: 0,
      repeatedAcrossReconnects: 0,
      loggedTwice: this.#loggedTwice.size,
      reconnectedClients: this.#reconnected.filter(Boolean).length,
      missingReported: this.#missingReported,
    };
    this.#received.forEach((received, client) => {
      const joinedAt = this.#joinedAt[client];
      for (const seq of this.#acknowledged) {
        if (joinedAt === undefined || seq < joinedAt) continue; // sent before this client was there
        verdict.deliveriesExpected += 1;
        const cell = received[seq]!;
        if (cell === 0) verdict.lost += 1;
        else verdict.deliveriesReceived += 1;
        if ((cell & LIVE_COPIES) > 1) {
          if (this.#reconnected[client]) verdict.repeatedAcrossReconnects += 1;
          else verdict.duplicated += 1;
        }
      }
    });
    return verdict;
  }

  #sawId(seq: number, id: string): void {
    const first = this.#ids[seq];
    if (first === undefined) this.#ids[seq] = id;
    else if (first !== id) this.#loggedTwice.add(seq);
  }
}
