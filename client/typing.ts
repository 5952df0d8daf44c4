/**
 * "Alice is typing…": this page says it is typing at most every TYPING_SIGNAL_INTERVAL_MS, and shows
 * others as typing until TYPING_TIMEOUT_MS pass without a new signal from them, or their message
 * arrives. No DOM here beyond the callback.
 */

/** At most one "typing" signal per this interval, however fast the user types. */
const TYPING_SIGNAL_INTERVAL_MS = 2000;
/** Someone is shown as typing for this long after their last signal. */
const TYPING_TIMEOUT_MS = 3000;

/**
 * Calls `signal` at most once per `intervalMs`, at the first keystroke of each. After a message is
 * sent, `reset()`: the next keystroke starts a new message and signals at once (others cleared the
 * typist when the message arrived).
 */
export function throttled(signal: () => void, intervalMs = TYPING_SIGNAL_INTERVAL_MS): { keystroke(): void; reset(): void } {
  let last = -Infinity;
  return {
    keystroke: () => {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      signal();
    },
    reset: () => {
      last = -Infinity;
    },
  };
}

/** Who is typing now, kept up to date as signals arrive and expire. */
export class Typists {
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly onChange: (names: string[]) => void) {}

  typing(name: string): void {
    const isNew = !this.#timers.has(name);
    clearTimeout(this.#timers.get(name));
    this.#timers.set(
      name,
      setTimeout(() => this.stopped(name), TYPING_TIMEOUT_MS),
    );
    if (isNew) this.onChange(this.names());
  }

  /** Their message arrived, or they went silent. */
  stopped(name: string): void {
    if (!this.#timers.has(name)) return;
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
    this.onChange(this.names());
  }

  names(): string[] {
    return [...this.#timers.keys()];
  }
}

/** "Alice is typing…", "Alice and Bob are typing…", "Alice, Bob and 3 others are typing…". */
export function describeTypists(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} other${names.length === 3 ? '' : 's'} are typing…`;
}
