/**
 * Makes `count` things (clients, usually), `atOnce` of them at a time, in order: a crowd arriving
 * rather than a thundering herd, which would measure the herd instead.
 */
export async function inBatches<T>(count: number, atOnce: number, make: (index: number) => Promise<T>): Promise<T[]> {
  const made: T[] = [];
  for (let first = 0; first < count; first += atOnce) {
    const batch = Array.from({ length: Math.min(atOnce, count - first) }, (_, offset) => first + offset);
    made.push(...(await Promise.all(batch.map(make))));
  }
  return made;
}
