/** The handshake `auth` a client sends (server/chat/handshake.ts), and the name rules it applies (shared/text.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHandshake } from '../server/chat/handshake.js';
import { MAX_JOINED_ROOMS } from '../shared/events.js';
import { checkName, checkRoomName, MAX_NAME_LENGTH, textLength } from '../shared/text.js';

const INVISIBLE_OR_CONTROL = 'name must not contain control or invisible characters';

describe('parseHandshake', () => {
  test('no auth at all: a guest name', () => {
    const parsed = parseHandshake({});
    assert.ok(parsed.ok);
    assert.match(parsed.handshake.name, /^Guest [0-9a-z]{4}$/);
  });

  test('two guests are told apart', () => {
    const names = new Set(Array.from({ length: 20 }, () => (parseHandshake({}) as { handshake: { name: string } }).handshake.name));
    assert.ok(names.size > 15, `only ${names.size} distinct guest names in 20`);
  });

  test('a name is taken as sent, trimmed', () => {
    assert.deepEqual(parseHandshake({ name: '  Ada Lovelace ' }), { ok: true, handshake: { name: 'Ada Lovelace', rooms: [] } });
  });

  test('unknown fields are ignored, so that older and newer clients can connect', () => {
    assert.deepEqual(parseHandshake({ name: 'Ada', theme: 'dark', lastSeenId: 'yesterday' }), { ok: true, handshake: { name: 'Ada', rooms: [] } });
  });

  test('a bad name is refused, naming the field', () => {
    assert.deepEqual(parseHandshake({ name: '\u200b' }), { ok: false, error: INVISIBLE_OR_CONTROL, refusal: { field: 'name' } });
  });

  test('rooms: a list of room names, normalised; names that are no room names are skipped; not a list, or too long, is refused', () => {
    assert.deepEqual(parseHandshake({ name: 'Ada', rooms: [' Ops', 'Bad Room!', 42, 'café'] }), {
      ok: true,
      handshake: { name: 'Ada', rooms: ['ops', 'café'] },
    });
    assert.deepEqual(parseHandshake({ name: 'Ada', rooms: 'ops' }), { ok: false, error: 'rooms must be a list of room names', refusal: { field: 'rooms' } });
    const tooMany = Array.from({ length: MAX_JOINED_ROOMS + 1 }, (_, n) => `room-${n}`);
    assert.deepEqual(parseHandshake({ rooms: tooMany }), { ok: false, error: `rooms: at most ${MAX_JOINED_ROOMS}`, refusal: { field: 'rooms' } });
  });

  test('auth that is not an object is refused', () => {
    assert.deepEqual(parseHandshake('Ada'), { ok: false, error: 'auth must be an object', refusal: { field: 'auth' } });
  });
});

describe('checkRoomName', () => {
  test('lower case, trimmed, composed; letters of any script, digits, - and _', () => {
    assert.deepEqual(checkRoomName(' Général '), { ok: true, text: 'général' });
    assert.deepEqual(checkRoomName('Ge\u0301ne\u0301ral'), { ok: true, text: 'général' });
    assert.deepEqual(checkRoomName('чат_2-b'), { ok: true, text: 'чат_2-b' });
  });

  test('refuses what would be awkward in a link or a Redis key, or unreadable', () => {
    const rule = 'room name must be letters, digits, - or _, starting with a letter or digit';
    for (const name of ['two words', '-lead', '{x}', 'a/b', 'a\u200bb', 'a\u202eb', 'a\nb', '😀'])
      assert.deepEqual(checkRoomName(name), { ok: false, error: rule }, JSON.stringify(name));
    assert.deepEqual(checkRoomName('x'.repeat(25)), { ok: false, error: 'room name is longer than 24 characters' });
    assert.deepEqual(checkRoomName(' '), { ok: false, error: 'room name is empty' });
    assert.deepEqual(checkRoomName(['ops']), { ok: false, error: 'room name must be text' });
    assert.deepEqual(checkRoomName('\ud800'), { ok: false, error: 'room name is not valid Unicode text' });
  });
});

describe('checkName', () => {
  test('trims, and composes accents (NFC) so that one name typed two ways is one name', () => {
    assert.deepEqual(checkName(' Zoë '), { ok: true, text: 'Zoë' });
    assert.deepEqual(checkName('Zoe\u0308'), { ok: true, text: 'Zoë' });
  });

  test(`${MAX_NAME_LENGTH} characters are fine, counted in code points; one more is not`, () => {
    const emoji = '😀'.repeat(MAX_NAME_LENGTH);
    assert.equal(textLength(emoji), MAX_NAME_LENGTH);
    assert.deepEqual(checkName(emoji), { ok: true, text: emoji });
    assert.deepEqual(checkName(`${emoji}x`), { ok: false, error: `name is longer than ${MAX_NAME_LENGTH} characters` });
  });

  test('refuses what is not text, and what is empty once trimmed', () => {
    for (const value of [42, null, ['Ada'], { name: 'Ada' }]) assert.deepEqual(checkName(value), { ok: false, error: 'name must be text' });
    for (const value of ['', '   ', '\u3000']) assert.deepEqual(checkName(value), { ok: false, error: 'name is empty' });
  });

  test('refuses control and invisible characters anywhere in the name', () => {
    const sneaky = {
      newline: 'Ada\nLovelace',
      tab: 'Ada\tL',
      'zero-width space': 'Ada\u200bL',
      'zero-width joiner alone': '\u200d',
      'right-to-left override': '\u202eAda',
      'left-to-right isolate': 'Ada\u2066',
      'soft hyphen': 'A\u00adda',
      'Hangul filler': '\u3164',
      'Braille blank': '\u2800',
      'line separator': 'A\u2028da',
      'C1 control': 'A\u0085da',
    };
    for (const [what, name] of Object.entries(sneaky)) {
      assert.deepEqual(checkName(name), { ok: false, error: INVISIBLE_OR_CONTROL }, what);
    }
  });
});
