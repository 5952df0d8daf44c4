import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessage } from '../server/chat/message.js';
import { MAX_MESSAGE_LENGTH } from '../shared/text.js';

// The error texts are part of the protocol: the client shows them to the user as they are.
const NOT_TEXT = 'message must be text';
const NOT_A_MESSAGE = 'message must be text, or { text, room, key }';
const EMPTY = 'message is empty';
const TOO_LONG = `message is longer than ${MAX_MESSAGE_LENGTH} characters`;
const BAD_KEY = 'key must be 8-64 letters, digits, - or _';

describe('parseMessage', () => {
  test('accepts a string and trims surrounding whitespace', () => {
    assert.deepEqual(parseMessage('hello'), { ok: true, text: 'hello', room: 'general', key: undefined });
    assert.deepEqual(parseMessage('  hello there \n'), { ok: true, text: 'hello there', room: 'general', key: undefined });
  });

  test('accepts { text } and { text, key }, in the default room unless { room } says otherwise', () => {
    assert.deepEqual(parseMessage({ text: 'hi', room: ' Ops ' }), { ok: true, text: 'hi', room: 'ops', key: undefined });
    assert.deepEqual(parseMessage({ text: 'hi', room: 'no such name!' }), {
      ok: false,
      error: 'room name must be letters, digits, - or _, starting with a letter or digit',
    });
    assert.deepEqual(parseMessage({ text: ' hi ' }), { ok: true, text: 'hi', room: 'general', key: undefined });
    assert.deepEqual(parseMessage({ text: 'hi', key: 'Abc_123-xyz' }), { ok: true, text: 'hi', room: 'general', key: 'Abc_123-xyz' });
  });

  test('refuses anything that is neither a string nor an object', () => {
    for (const payload of [undefined, null, 42, true, ['hi'], () => 'hi']) {
      assert.deepEqual(parseMessage(payload), { ok: false, error: NOT_A_MESSAGE }, `payload ${String(payload)}`);
    }
  });

  test('refuses an object whose text is missing or not a string', () => {
    for (const payload of [{}, { text: 42 }, { text: ['hi'] }, { key: 'Abc_123-xyz' }]) {
      assert.deepEqual(parseMessage(payload), { ok: false, error: NOT_TEXT }, `payload ${JSON.stringify(payload)}`);
    }
  });

  test('refuses unknown fields, so that a misspelt one is not silently ignored', () => {
    const result = parseMessage({ text: 'hi', kye: 'Abc_123-xyz' });
    assert.equal(result.ok, false);
    assert.match((result as { error: string }).error, /kye/);
  });

  test('refuses a key that is too short, too long or has other characters', () => {
    for (const key of ['short', 'x'.repeat(65), 'has space 123', 'ünïcödé-key', 12345678]) {
      assert.deepEqual(parseMessage({ text: 'hi', key }), { ok: false, error: BAD_KEY }, `key ${JSON.stringify(key)}`);
    }
  });

  test('refuses empty and blank text', () => {
    for (const payload of ['', ' ', '\t\n  ', { text: '  ' }]) {
      assert.deepEqual(parseMessage(payload), { ok: false, error: EMPTY }, `payload ${JSON.stringify(payload)}`);
    }
  });

  test(`accepts exactly MAX_MESSAGE_LENGTH (${MAX_MESSAGE_LENGTH}) characters and refuses one more`, () => {
    const longest = 'x'.repeat(MAX_MESSAGE_LENGTH);
    assert.deepEqual(parseMessage(longest), { ok: true, text: longest, room: 'general', key: undefined });
    assert.deepEqual(parseMessage(`${longest}y`), { ok: false, error: TOO_LONG });
  });

  test('counts characters as code points, the way the page does: 1,000 emoji fit, though they are 2,000 UTF-16 units', () => {
    const emoji = '😀'.repeat(MAX_MESSAGE_LENGTH);
    assert.equal(emoji.length, 2 * MAX_MESSAGE_LENGTH);
    assert.deepEqual(parseMessage(emoji), { ok: true, text: emoji, room: 'general', key: undefined });
    assert.deepEqual(parseMessage(`${emoji}😀`), { ok: false, error: TOO_LONG });
  });

  test('normalises to the composed form (NFC): "é" typed as e + accent is stored as one character', () => {
    assert.deepEqual(parseMessage('caf\u0065\u0301'), { ok: true, text: 'caf\u00e9', room: 'general', key: undefined });
  });

  test('keeps newlines, refuses every other control character', () => {
    assert.deepEqual(parseMessage('two\nlines'), { ok: true, text: 'two\nlines', room: 'general', key: undefined });
    for (const control of ['\t', '\r', '\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\u009b']) {
      assert.deepEqual(parseMessage(`a${control}b`), { ok: false, error: 'message must not contain control characters' }, JSON.stringify(control));
    }
  });

  test('refuses half a surrogate pair, and keeps whole ones (the fuzz test found it)', () => {
    for (const broken of ['a\ud800b', '\udc00', 'end \ud83d']) {
      assert.deepEqual(parseMessage(broken), { ok: false, error: 'message is not valid Unicode text' }, JSON.stringify(broken));
    }
    assert.deepEqual(parseMessage('a \ud83d\ude00'), { ok: true, text: 'a 😀', room: 'general', key: undefined });
  });

  test('refuses bidirectional overrides and isolates ("Trojan Source")', () => {
    for (const bidi of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']) {
      assert.deepEqual(parseMessage(`abc${bidi}def`), { ok: false, error: 'message must not contain bidirectional override characters' }, JSON.stringify(bidi));
    }
  });

  test('refuses text with nothing visible, but not invisible characters inside visible text', () => {
    for (const blank of ['\u200b', '\u200b\u200d\u2060', '\u3164', '\u2800\u2800', '\u00ad', '\u0301', '\ufe0f']) {
      assert.deepEqual(parseMessage(blank), { ok: false, error: 'message has no visible characters' }, JSON.stringify(blank));
    }
    // A family emoji is three emoji joined by zero-width joiners.
    const family = '👨\u200d👩\u200d👧';
    assert.deepEqual(parseMessage(family), { ok: true, text: family, room: 'general', key: undefined });
  });
});
