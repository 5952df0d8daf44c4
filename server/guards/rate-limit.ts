/**
 * A token bucket per connection, for every event a client sends (messages and typing alike): up to
 * `burst` at once, then `perSecond`. Without it, one client can send thousands of messages a second,
 * each fanned out to every client, and everyone's chat slows to a crawl. `catch up` (a read of the
 * log) has a bucket of its own, so that a page filling a gap does not use up what its person may send.
 */
import type { Socket } from 'socket.io';
import type { SendResult } from '../../shared/events.js';
import type { ChatMetrics } from '../metrics.js';

/** What an acknowledged event over the limit gets back; the page keeps the message and retries. */
const SLOW_DOWN: SendResult = { ok: false, error: 'slow down', retryable: true };

class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number = performance.now(),
  ) {
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes a token if there is one. */
  take(now: number = performance.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.perSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Applies the limit to `socket`'s incoming events. An event over the limit is dropped; if it came
 * with an acknowledgement, that says "slow down".
 */
export function limitEventRate(socket: Socket, limit: { burst: number; perSecond: number }, metrics: ChatMetrics): void {
  // Made at a connection's first event of each kind: most connections are idle, and a full bucket is
  // what a new one would hold anyway.
  let sending: TokenBucket | undefined;
  let catchingUp: TokenBucket | undefined;
  socket.use((event, next) => {
    let bucket: TokenBucket;
    if (event[0] === 'catch up') {
      catchingUp ??= new TokenBucket(limit.burst, limit.perSecond);
      bucket = catchingUp;
    } else {
      sending ??= new TokenBucket(limit.burst, limit.perSecond);
      bucket = sending;
    }
    if (bucket.take()) return next();
    metrics.rateLimited(String(event[0]));
    const ack = event.at(-1);
    if (typeof ack === 'function') ack(SLOW_DOWN);
  });
}
