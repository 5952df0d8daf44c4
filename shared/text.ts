/**
 * Rules for text people type, applied by both ends: the page checks before sending, so it can say
 * at once what the server would refuse, and the server checks everything it receives, because a
 * client can send anything.
 */

/** Longest name, in characters as `textLength` counts them. */
export const MAX_NAME_LENGTH = 24;
/** Longest room name, in characters as `textLength` counts them. */
export const MAX_ROOM_NAME_LENGTH = 24;
/** Longest message text, in characters as `textLength` counts them. */
export const MAX_MESSAGE_LENGTH = 1000;

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

/**
 * Half of a surrogate pair, alone: not a character at all. A browser shows it as �, and Redis,
 * storing UTF-8, replaces it with U+FFFD, so the live message and its history copy would differ.
 */
const LONE_SURROGATE = /\p{Cs}/u;
/** Control characters: C0, DEL and C1 (tabs and newlines included). */
const CONTROL = /\p{Cc}/u;
/** The same, but for the newline, which a message may contain. */
const CONTROL_EXCEPT_NEWLINE = /[^\P{Cc}\n]/u;
/**
 * Bidirectional overrides and isolates. They reorder the text after them, so that what a reader
 * sees is not what was written ("Trojan Source"); a chat has no use for them.
 */
const BIDI_OVERRIDE = /[\u202A-\u202E\u2066-\u2069]/u;
/**
 * Characters that show nothing: format characters (zero-width spaces and joiners, bidirectional
 * controls, soft hyphen…), line and paragraph separators, and the "blank" letters the Hangul
 * fillers and the Braille blank are often abused as.
 */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800]/u;
/** Text made of nothing but those and white space shows as a blank message. */
const ONLY_INVISIBLE = /^[\s\p{Cf}\p{Zl}\p{Zp}\p{Mn}\p{Me}\u115F\u1160\u3164\uFFA0\u2800]*$/u;

type CheckedText = { ok: true; text: string } | { ok: false; error: string };

/**
 * A display name: trimmed, in Unicode's composed form (NFC, so that "é" typed two ways is one
 * name), 1 to MAX_NAME_LENGTH characters, with no control or invisible characters.
 */
export function checkName(input: unknown): CheckedText {
  if (typeof input !== 'string') return { ok: false, error: 'name must be text' };
  if (LONE_SURROGATE.test(input)) return { ok: false, error: 'name is not valid Unicode text' };
  const name = input.normalize('NFC').trim();
  if (name === '') return { ok: false, error: 'name is empty' };
  if (textLength(name) > MAX_NAME_LENGTH) return { ok: false, error: `name is longer than ${MAX_NAME_LENGTH} characters` };
  if (CONTROL.test(name) || INVISIBLE.test(name)) return { ok: false, error: 'name must not contain control or invisible characters' };
  return { ok: true, text: name };
}

/**
 * A message's text: in Unicode's composed form (NFC), trimmed, 1 to MAX_MESSAGE_LENGTH characters,
 * with no control characters but the newline, no bidirectional overrides, and something visible.
 */
export function checkMessageText(input: unknown): CheckedText {
  if (typeof input !== 'string') return { ok: false, error: 'message must be text' };
  if (LONE_SURROGATE.test(input)) return { ok: false, error: 'message is not valid Unicode text' };
  const text = input.normalize('NFC').trim();
  if (text === '') return { ok: false, error: 'message is empty' };
  if (textLength(text) > MAX_MESSAGE_LENGTH) return { ok: false, error: `message is longer than ${MAX_MESSAGE_LENGTH} characters` };
  if (CONTROL_EXCEPT_NEWLINE.test(text)) return { ok: false, error: 'message must not contain control characters' };
  if (BIDI_OVERRIDE.test(text)) return { ok: false, error: 'message must not contain bidirectional override characters' };
  if (ONLY_INVISIBLE.test(text)) return { ok: false, error: 'message has no visible characters' };
  return { ok: true, text };
}

/** Letters (of any script) and digits, then also `-` and `_`. */
const ROOM_NAME = /^[\p{L}\p{N}][\p{L}\p{N}_-]*$/u;

/**
 * A room name: trimmed, composed (NFC) and in lower case, so that "General" and "general" are one
 * room; 1 to MAX_ROOM_NAME_LENGTH letters, digits, `-` or `_`, starting with a letter or digit.
 * Stricter than a person's name because it also appears in links (`/?room=…`) and Redis keys.
 */
export function checkRoomName(input: unknown): CheckedText {
  if (typeof input !== 'string') return { ok: false, error: 'room name must be text' };
  if (LONE_SURROGATE.test(input)) return { ok: false, error: 'room name is not valid Unicode text' };
  const name = input.normalize('NFC').trim().toLowerCase();
  if (name === '') return { ok: false, error: 'room name is empty' };
  if (textLength(name) > MAX_ROOM_NAME_LENGTH) return { ok: false, error: `room name is longer than ${MAX_ROOM_NAME_LENGTH} characters` };
  if (!ROOM_NAME.test(name)) return { ok: false, error: 'room name must be letters, digits, - or _, starting with a letter or digit' };
  return { ok: true, text: name };
}
