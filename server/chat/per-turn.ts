/**
 * One call of `read` for everyone who asks during the same turn of the event loop, made once the
 * turn's I/O is done. In a mass connect hundreds of connections arrive in a turn, and each is owed
 * the same list; a read per connection was hundreds of Redis round trips for one answer. The read
 * starts after they all arrived, so its answer is as new as each of them would have had on its own.
 */
export function oncePerTurn<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      // Who asks from now on is in a later turn: a read of its own.
      pending = undefined;
      return read();
    }));
}
