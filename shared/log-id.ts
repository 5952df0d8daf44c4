/**
 * A message's id is its position in the message log: a Redis Stream id, `<milliseconds>-<sequence>`.
 * Redis hands them out in increasing order cluster-wide, so "everything after X" has one meaning on
 * every replica. The in-memory log of a single node (no Redis) makes ids of the same form.
 */

/** A well-formed log id. The bounds keep both parts exact as JavaScript numbers. */
const LOG_ID = /^(\d{1,15})-(\d{1,15})$/;

export function isLogId(value: unknown): value is string {
  return typeof value === 'string' && LOG_ID.test(value);
}

function parts(id: string): [number, number] {
  const match = LOG_ID.exec(id);
  if (!match) throw new Error(`not a log id: ${JSON.stringify(id)}`);
  return [Number(match[1]), Number(match[2])];
}

/** Negative if `a` comes before `b` in the log, positive if after, 0 if the same. */
export function compareLogIds(a: string, b: string): number {
  const [aTime, aSequence] = parts(a);
  const [bTime, bSequence] = parts(b);
  return aTime - bTime || aSequence - bSequence;
}
