import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_MESSAGE_LENGTH, parseMessage } from '../server/message.js';

// The error texts are part of the protocol: the client shows them to the user as they are.
const NOT_TEXT = 'message must be text';
const NOT_A_MESSAGE = 'message must be text, or { text, key }';
const EMPTY = 'message is empty';
const TOO_LONG = `message is longer than ${MAX_MESSAGE_LENGTH} characters`;
const BAD_KEY = 'key must be 8-64 letters, digits, - or _';

describe('parseMessage', () => {
  test('accepts a string and trims surrounding whitespace', () => {
    assert.deepEqual(parseMessage('hello'), { ok: true, text: 'hello', key: undefined });
    assert.deepEqual(parseMessage('  hello there \n'), { ok: true, text: 'hello there', key: undefined });
  });

  test('accepts { text } and { text, key }', () => {
    assert.deepEqual(parseMessage({ text: ' hi ' }), { ok: true, text: 'hi', key: undefined });
    assert.deepEqual(parseMessage({ text: 'hi', key: 'Abc_123-xyz' }), { ok: true, text: 'hi', key: 'Abc_123-xyz' });
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
    assert.deepEqual(parseMessage(longest), { ok: true, text: longest, key: undefined });
    assert.deepEqual(parseMessage(`${longest}y`), { ok: false, error: TOO_LONG });
  });
});
