/**
 * Rules for text people type, applied by both ends: the page checks before sending, so it can say
 * at once what the server would refuse, and the server checks everything it receives, because a
 * client can send anything.
 */

/** Longest name, in characters as `textLength` counts them. */
export const MAX_NAME_LENGTH = 24;

/**
 * Length in Unicode code points: "é" is 1, "😀" is 1, a flag is 2. Both ends count this way (an
 * input's `maxlength` counts UTF-16 units, in which "😀" is 2). Code points rather than what a
 * reader sees as one character, because one of those can hide any number of combining marks.
 */
export function textLength(text: string): number {
  let length = 0;
  for (const _codePoint of text) length += 1;
  return length;
}

/** Control characters: C0, DEL and C1 (tabs and newlines included). */
const CONTROL = /\p{Cc}/u;
/**
 * Characters that show nothing: format characters (zero-width spaces and joiners, bidirectional
 * controls, soft hyphen…), line and paragraph separators, and the "blank" letters the Hangul
 * fillers and the Braille blank are often abused as.
 */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800]/u;

export type CheckedText = { ok: true; text: string } | { ok: false; error: string };

/**
 * A display name: trimmed, in Unicode's composed form (NFC, so that "é" typed two ways is one
 * name), 1 to MAX_NAME_LENGTH characters, with no control or invisible characters.
 */
export function checkName(input: unknown): CheckedText {
  if (typeof input !== 'string') return { ok: false, error: 'name must be text' };
  const name = input.normalize('NFC').trim();
  if (name === '') return { ok: false, error: 'name is empty' };
  if (textLength(name) > MAX_NAME_LENGTH) return { ok: false, error: `name is longer than ${MAX_NAME_LENGTH} characters` };
  if (CONTROL.test(name) || INVISIBLE.test(name)) return { ok: false, error: 'name must not contain control or invisible characters' };
  return { ok: true, text: name };
}
