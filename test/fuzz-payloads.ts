/**
 * What test/fuzz.test.ts throws at a replica: random values for Socket.IO events, and raw Engine.IO,
 * Socket.IO and long-polling frames, valid and not. All drawn from a seeded generator, so that a
 * failing run can be replayed with its seed.
 */
import { MAX_FRAME_BYTES } from '../server/server.js';
import { MAX_MESSAGE_LENGTH } from '../shared/text.js';

/** mulberry32: a tiny seeded generator, good enough to pick payloads, reproducible across runs. */
export class SeededRandom {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** Keys a careless parser might treat specially: prototype pollution, thenables, the message's own fields. */
const SPECIAL_KEYS = [
  'text',
  'key',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'then',
  'length',
  '_placeholder',
  'num',
  '',
];

/** Code points a text rule must handle: controls, bidi overrides, invisible ones, lone surrogates, astral ones. */
const AWKWARD_CHARACTERS = [
  '\0',
  '\n',
  '\r',
  '\t',
  '\u0085',
  '\u202E',
  '\u2066',
  '\u200B',
  '\u2028',
  '\u3164',
  '\uD800',
  '\uDFFF',
  '😀',
  'é',
  'e\u0301',
  '"',
  '\\',
  '\u001e',
];

const NUMBERS = [0, -0, 1, -1, 0.5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1e308, -1e308, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 1];

export function randomString(random: SeededRandom): string {
  // Around the frame limit, rarely: the larger ones close the connection, and what was sent after them on it is lost.
  if (random.chance(0.005)) return 'y'.repeat(MAX_FRAME_BYTES + random.below(200) - 100);
  switch (random.below(10)) {
    case 0:
      return '';
    case 1:
      // Around the message limit, counted in code points: at, just over, and in astral characters.
      return random.pick(['x', '😀', 'é']).repeat(MAX_MESSAGE_LENGTH + random.below(3) - 1);
    case 2:
      return Array.from({ length: 1 + random.below(20) }, () => random.pick(AWKWARD_CHARACTERS)).join('');
    case 3:
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a template placeholder, on purpose: it must stay literal text.
      return random.pick(['hello', ' ', '\n\n', 'fuzzkey_12345678', 'a'.repeat(65), '<img src=x onerror=alert(1)>', '${x}', '%s%s%n']);
    default:
      return String.fromCodePoint(...Array.from({ length: 1 + random.below(40) }, () => (random.chance(0.7) ? random.below(0x80) : random.below(0x110000))));
  }
}

/**
 * Any JSON-like value, up to `depth` levels of arrays and objects. Objects are built with
 * Object.fromEntries, so that `__proto__` is an own key, as it is after JSON.parse on the server.
 */
export function randomValue(random: SeededRandom, depth = 3): unknown {
  switch (random.below(depth > 0 ? 9 : 6)) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick(NUMBERS);
    case 3:
    case 4:
      return randomString(random);
    case 5:
      return undefined;
    case 6:
      return Array.from({ length: random.below(5) }, () => randomValue(random, depth - 1));
    case 7:
      return deeplyNested(random.below(2000));
    default:
      return Object.fromEntries(
        Array.from({ length: random.below(4) }, () => [random.chance(0.7) ? random.pick(SPECIAL_KEYS) : randomString(random), randomValue(random, depth - 1)]),
      );
  }
}

/** `[[[…]]]`, `levels` deep: recursion in a parser or validator would overflow on it. */
export function deeplyNested(levels: number): unknown {
  let value: unknown = [];
  for (let level = 0; level < levels; level++) value = [value];
  return value;
}

/** Event names the server does not handle: its own, prototype-ish ones, and ones nobody uses. */
const UNHANDLED_EVENTS = ['welcome', 'position', 'presence', 'left', 'nope', '', '__proto__', 'constructor', 'hasOwnProperty', 'x'.repeat(300)];

/** The rooms' requests (server/rooms.ts). */
const ROOM_EVENTS = ['join', 'leave', 'create room'];

/** Mostly the events the server handles (shared/events.ts), where bugs would be. */
export function randomEventName(random: SeededRandom): string {
  const roll = random.next();
  if (roll < 0.45) return 'chat message';
  if (roll < 0.55) return 'catch up';
  if (roll < 0.65) return 'typing';
  return roll < 0.75 ? random.pick(ROOM_EVENTS) : random.pick(UNHANDLED_EVENTS);
}

/**
 * The arguments of an event: for 'chat message', usually something shaped like `{ text, room, key }`
 * with wrong or borderline values and extra fields, so that the validation is what gets fuzzed;
 * otherwise any values.
 */
export function randomEventArgs(random: SeededRandom, event: string): unknown[] {
  const args = Array.from({ length: random.below(4) }, () => randomValue(random));
  if (event === 'chat message' && random.chance(0.7)) {
    const fields: [string, unknown][] = [['text', random.chance(0.7) ? randomString(random) : randomValue(random)]];
    if (random.chance(0.6)) fields.push(['key', random.chance(0.7) ? randomString(random) : randomValue(random)]);
    if (random.chance(0.3)) fields.push(['room', random.chance(0.7) ? randomString(random) : randomValue(random)]);
    if (random.chance(0.2)) fields.push([random.pick(SPECIAL_KEYS), randomValue(random)]);
    args[0] = random.chance(0.2) ? randomString(random) : Object.fromEntries(fields);
  }
  return args;
}

/**
 * Names Socket.IO reserves: socket.io-client refuses to emit them, so only a raw client can send
 * them, and a server that dispatched them would run its own `disconnect` handlers on a whim.
 */
const RESERVED_EVENTS = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener', 'error'];

/**
 * A Socket.IO packet as text (`<type>[<attachments>-][<namespace>,][<ack id>][<json>]`), mostly
 * broken: any type digit, a bad or foreign namespace, attachment counts with no attachments to
 * follow, acks for ids nobody asked, JSON cut short.
 */
export function randomSocketIoPacket(random: SeededRandom): string {
  const type = random.chance(0.6) ? '2' : random.pick(['0', '1', '3', '4', '5', '6', '7', '9', 'a', '-', '']);
  const attachments = random.chance(0.15) ? `${random.pick(['1', '2', '0', '999999', '-1'])}-` : '';
  const namespace = random.chance(0.2) ? random.pick(['/nope,', '/,', '/admin,', '/nope', ',', `${'/'.repeat(50)},`]) : '';
  const ackId = random.chance(0.3) ? random.pick(['1', '12', '0', '99999999999999999999', '-1', '1e3']) : '';
  const event = random.chance(0.2) ? random.pick(RESERVED_EVENTS) : randomEventName(random);
  const data = random.chance(0.1)
    ? random.pick(['{"_placeholder":true,"num":0}', '[{"_placeholder":true,"num":7}]', '"just a string"', '{}', 'null', '[]', '[1]'])
    : JSON.stringify([event, ...randomEventArgs(random, event)]);
  const json = random.chance(0.2) ? data.slice(0, random.below(data.length)) : data; // unterminated
  return `${type}${attachments}${namespace}${ackId}${json}`;
}

/** An Engine.IO frame: a Socket.IO packet (`4…`) most of the time, otherwise any type digit with garbage, or bytes. */
export function randomEngineIoFrame(random: SeededRandom): string | Buffer {
  switch (random.below(6)) {
    case 0:
      return (
        random.pick(['', '0', '1', '2', '2probe', '3', '3probe', '5', '6', '7', '8', '9', 'x', '44', '4']) + (random.chance(0.5) ? randomString(random) : '')
      );
    case 1:
      // Binary frames: random bytes, and a stray attachment nobody announced.
      return Buffer.from(Array.from({ length: random.below(64) }, () => random.below(256)));
    default:
      return `4${randomSocketIoPacket(random)}`;
  }
}

/** A long-polling request body: Engine.IO packets separated by the record separator, some of them broken. */
export function randomPollingBody(random: SeededRandom): string {
  return Array.from({ length: 1 + random.below(4) }, () => {
    const frame = randomEngineIoFrame(random);
    return typeof frame === 'string' ? frame : `b${frame.toString('base64')}`;
  }).join('\u001e');
}
