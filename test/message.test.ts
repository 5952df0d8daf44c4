import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_MESSAGE_LENGTH, parseMessageText } from '../server/message.js';

// The error texts are part of the protocol: the client shows them to the user as they are.
const NOT_TEXT = 'message must be text';
const EMPTY = 'message is empty';
const TOO_LONG = `message is longer than ${MAX_MESSAGE_LENGTH} characters`;

describe('parseMessageText', () => {
  test('accepts text and trims surrounding whitespace', () => {
    assert.deepEqual(parseMessageText('hello'), { ok: true, text: 'hello' });
    assert.deepEqual(parseMessageText('  hello there \n'), { ok: true, text: 'hello there' });
  });

  test('refuses anything that is not a string', () => {
    for (const payload of [undefined, null, 42, true, {}, { text: 'hi' }, ['hi'], () => 'hi']) {
      assert.deepEqual(parseMessageText(payload), { ok: false, error: NOT_TEXT }, `payload ${String(payload)}`);
    }
  });

  test('refuses empty and blank text', () => {
    for (const payload of ['', ' ', '\t\n  ']) {
      assert.deepEqual(parseMessageText(payload), { ok: false, error: EMPTY }, `payload ${JSON.stringify(payload)}`);
    }
  });

  test(`accepts exactly MAX_MESSAGE_LENGTH (${MAX_MESSAGE_LENGTH}) characters and refuses one more`, () => {
    const longest = 'x'.repeat(MAX_MESSAGE_LENGTH);
    assert.deepEqual(parseMessageText(longest), { ok: true, text: longest });
    assert.deepEqual(parseMessageText(`${longest}y`), { ok: false, error: TOO_LONG });
  });
});
