/**
 * Rooms across replicas (server/chat/rooms.ts): three replicas on one real redis-server, once with each
 * adapter. A room created on one replica is listed on all; its broadcasts reach its members on
 * every replica and nobody else; each room has its own history and catch-up, its own "who's here"
 * and its own typing; bad requests are refused with a reason and change nothing.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { oncePerTurn } from '../server/chat/per-turn.js';
import type { RedisAdapterKind } from '../server/config.js';
import { DEFAULT_ROOM, MAX_JOINED_ROOMS, type CatchUpResult, type RoomResult } from '../shared/events.js';
import {
  assertExactlyOnce,
  EVENT_TIMEOUT_MS,
  freePort,
  type ListeningClient,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  pollUntil,
  startRedis,
  startTestReplicas,
  withTimeout,
  type ChatSocket,
} from './helpers.js';

/** Rooms there may be, the default one included: the refusals below create up to it. */
const ROOM_LIMIT = 14;
const POSITION_INTERVAL_MS = 300;
/** How long a message of another room is given to (wrongly) arrive. */
const STRAY_WINDOW_MS = 1000;

describe('the room list for new connections (oncePerTurn)', () => {
  test('one read for everyone who asks in a turn, started once they all asked; a later turn reads again', async () => {
    let reads = 0;
    const list = oncePerTurn(async () => ++reads);
    const sameTurn = [list(), list(), list()];
    assert.equal(reads, 0, 'no read before the turn is over: it would be older than the last to ask');
    assert.deepEqual(await Promise.all(sameTurn), [1, 1, 1]);
    assert.equal(await list(), 2);
  });
});

async function startCluster(adapter: RedisAdapterKind) {
  const dir = makeTempDir('rooms');
  const redisPort = await freePort();
  const redis = await startRedis({ port: redisPort, dir });
  const env = { ...WITHOUT_RATE_LIMIT, REDIS_ADAPTER: adapter, ROOM_LIMIT: String(ROOM_LIMIT), POSITION_INTERVAL_MS: String(POSITION_INTERVAL_MS) };
  const replicas = await startTestReplicas({ numbers: [1, 2, 3], dir, redisUrl: `redis://127.0.0.1:${redisPort}`, env }).catch(async (err) => {
    await redis.stop();
    throw err;
  });
  return {
    ...replicas,
    async stop(): Promise<void> {
      await replicas.stop();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ask(socket: ChatSocket, event: 'join' | 'leave' | 'create room', room: unknown): Promise<RoomResult> {
  return socket.timeout(EVENT_TIMEOUT_MS).emitWithAck(event, room as string);
}

function catchUp(socket: ChatSocket, request: unknown): Promise<CatchUpResult> {
  return socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', request as null);
}

async function acknowledged(sender: ListeningClient, text: string): Promise<string> {
  const result = await sender.send(text);
  assert.ok(result !== 'no answer' && result.ok, `${text}: ${JSON.stringify(result)}`);
  return result.id;
}

for (const adapter of ['classic', 'sharded'] as const satisfies RedisAdapterKind[]) {
  describe(`rooms across three replicas (${adapter} adapter)`, { timeout: 60_000 }, () => {
    let cluster: Awaited<ReturnType<typeof startCluster>>;
    before(async () => {
      cluster = await startCluster(adapter);
    });
    after(() => cluster?.stop());

    test('a room created on replica 1 is listed on every replica; its messages reach its members on every replica, and nobody else', async (t) => {
      const creator = await cluster.client(t, 1);
      assert.deepEqual(await ask(creator.socket, 'create room', '  Ops '), { ok: true, room: 'ops' });
      for (const number of [1, 2, 3]) {
        const fresh = await cluster.client(t, number);
        await pollUntil(
          async () => fresh.roomList,
          (rooms) => rooms?.join() === `${DEFAULT_ROOM},ops`,
          { what: `the room list on replica ${number}` },
        );
      }
      // The creator was told too, through the adapter.
      await pollUntil(
        async () => creator.roomList,
        (rooms) => rooms?.includes('ops') === true,
        { what: "the creator's list" },
      );

      const members = [await cluster.client(t, 1, { room: 'ops' }), await cluster.client(t, 2, { room: 'ops' }), await cluster.client(t, 3, { room: 'ops' })];
      const outsiders = [await cluster.client(t, 2), await cluster.client(t, 3)];
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(await acknowledged(members[n % 3]!, `in ops ${n}`));
      for (const [index, member] of members.entries()) {
        await member.waitForIds(ids, `every ops message on member ${index + 1}`);
        assert.equal(member.liveCopies.size, ids.length, `member ${index + 1} did not get them live`);
        assertExactlyOnce(member, ids, `the member on replica ${index + 1}`);
      }
      // The outsiders' own room goes on; ops' messages and positions never reach them.
      const general = await acknowledged(outsiders[0]!, 'in general');
      for (const outsider of outsiders) await outsider.waitForIds([general], 'the message of their own room');
      await delay(STRAY_WINDOW_MS);
      for (const [index, outsider] of outsiders.entries()) assertExactlyOnce(outsider, [general], `outsider ${index + 1}`);
      for (const member of members) assert.equal(member.ids().includes(general), false, 'a member of ops only got a message of general');
    });

    test("each room its own history and catch-up: a newcomer gets the room's recent messages, a catch-up only the room's later ones", async (t) => {
      const sender = await cluster.client(t, 1, { room: 'ops' });
      const inGeneral = await cluster.client(t, 1);
      const first = await acknowledged(sender, 'ops history 1');
      await acknowledged(inGeneral, 'general, between the two');
      const second = await acknowledged(sender, 'ops history 2');

      const newcomer = await cluster.client(t, 3, { room: 'ops' });
      const texts = newcomer.timeline.messages.map((message) => message.text);
      assert.deepEqual(texts.slice(-2), ['ops history 1', 'ops history 2']);
      assert.ok(
        newcomer.timeline.messages.every((message) => message.room === 'ops'),
        'history of another room',
      );
      const caughtUp = await catchUp(newcomer.socket, { room: 'ops', afterId: first });
      assert.ok(caughtUp.ok);
      assert.deepEqual(
        caughtUp.messages.map((message) => message.id),
        [second],
      );
      assert.equal(caughtUp.messages[0]!.prev, first, "prev is the room's own previous message");
    });

    test("who's here, per room: a member of ops on replica 2 is listed in ops on every replica, an outsider is not; leaving takes them off", async (t) => {
      const ada = await cluster.client(t, 2, { room: 'ops', name: 'Ada' });
      const bob = await cluster.client(t, 3, { room: 'ops', name: 'Bob' });
      await cluster.client(t, 1, { name: 'Cy' });
      const names = (client: ListeningClient) => client.here?.people.map(([name]) => name).join() ?? '';
      for (const client of [ada, bob])
        await pollUntil(
          async () => names(client),
          (listed) => listed === 'Ada,Bob',
          { what: 'Ada and Bob in ops' },
        );
      assert.deepEqual(
        ada.here?.people.find(([name]) => name === 'Bob'),
        ['Bob', '3'],
      );
      assert.deepEqual(await ask(bob.socket, 'leave', 'ops'), { ok: true, room: 'ops' });
      await pollUntil(
        async () => names(ada),
        (listed) => listed === 'Ada',
        { what: 'Bob gone from ops' },
      );
    });

    test('typing, per room: a member of ops on another replica sees it, a member of general only does not', async (t) => {
      const typist = await cluster.client(t, 1, { room: 'ops', name: 'Typist' });
      const member = await cluster.client(t, 2, { room: 'ops' });
      const outsider = await cluster.client(t, 3);
      typist.socket.emit('typing', 'ops');
      await pollUntil(
        async () => member.eventsAbout('typing', 'Typist').length,
        (count) => count === 1,
        { what: 'the typing signal in ops' },
      );
      await delay(STRAY_WINDOW_MS);
      assert.equal(outsider.eventsAbout('typing', 'Typist').length, 0, 'typing in ops reached a member of general only');
      // Typing in a room one is not in goes nowhere.
      outsider.socket.emit('typing', 'ops');
      await delay(STRAY_WINDOW_MS);
      assert.equal(member.eventsAbout('typing', outsider.name).length, 0, 'typing in a room not joined was passed on');
    });

    test('refusals say why and change nothing: bad names, unknown rooms, rooms not joined, the default room, too many rooms joined or created', async (t) => {
      const client = await cluster.client(t, 2);
      const member = await cluster.client(t, 3, { room: 'ops' });
      for (const [input, error] of [
        ['Bad Room!', 'room name must be letters, digits, - or _, starting with a letter or digit'],
        ['-ops', 'room name must be letters, digits, - or _, starting with a letter or digit'],
        ['', 'room name is empty'],
        [42, 'room name must be text'],
        ['x'.repeat(25), 'room name is longer than 24 characters'],
      ] as const) {
        assert.deepEqual(await ask(client.socket, 'create room', input), { ok: false, error }, JSON.stringify(input));
        assert.deepEqual(await ask(client.socket, 'join', input), { ok: false, error }, JSON.stringify(input));
      }
      assert.deepEqual(await ask(client.socket, 'join', 'nowhere'), { ok: false, error: 'there is no room named "nowhere"' });
      assert.deepEqual(await ask(client.socket, 'leave', DEFAULT_ROOM), { ok: false, error: `everyone stays in "${DEFAULT_ROOM}"` });

      // Not a member of ops: it can neither speak nor read there, and nothing is logged.
      const before = await catchUp(member.socket, { room: 'ops', afterId: null });
      assert.deepEqual(await client.socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', { text: 'not a member', room: 'ops' }), {
        ok: false,
        error: 'join room "ops" before sending to it',
        retryable: false,
      });
      assert.deepEqual(await catchUp(client.socket, { room: 'ops', afterId: null }), { ok: false, error: 'join room "ops" before catching up on it' });
      assert.deepEqual(await catchUp(client.socket, { room: 'ops', afterId: null, extra: 1 }), {
        ok: false,
        error: 'catch up takes { room, afterId }, or an afterId',
      });
      assert.deepEqual(await catchUp(member.socket, { room: 'ops', afterId: null }), before);

      // A handshake's rooms: not a list is refused; a name that is no room is skipped.
      const refused = io(cluster.url(1), { transports: ['websocket'], reconnection: false, forceNew: true, auth: { rooms: 'ops' } });
      t.after(() => refused.close());
      const error = await withTimeout(
        new Promise<Error & { data?: unknown }>((resolve) => refused.once('connect_error', resolve)),
        EVENT_TIMEOUT_MS,
        'the refusal',
      );
      assert.deepEqual([error.message, error.data], ['rooms must be a list of room names', { field: 'rooms' }]);
      const skipping = io(cluster.url(1), { transports: ['websocket'], reconnection: false, forceNew: true, auth: { rooms: ['nowhere', 'Bad Room!', 'ops'] } });
      t.after(() => skipping.close());
      const welcome = await withTimeout(new Promise<{ rooms: string[] }>((resolve) => skipping.once('welcome', resolve)), EVENT_TIMEOUT_MS, 'the welcome');
      assert.deepEqual(welcome.rooms, [DEFAULT_ROOM, 'ops']);

      // Up to ROOM_LIMIT rooms exist, the default and ops included; then creating one is refused.
      const created: string[] = [];
      for (let n = 0; created.length < ROOM_LIMIT - 2; n++) {
        const result = await ask(client.socket, 'create room', `room-${n}`);
        if (result.ok) created.push(result.room);
        else assert.fail(`room ${n}: ${result.error}`);
      }
      assert.deepEqual(await ask(client.socket, 'create room', 'one-too-many'), {
        ok: false,
        error: `there are ${ROOM_LIMIT} rooms already, the most there can be: join one of them`,
      });
      assert.deepEqual(await ask(client.socket, 'create room', 'ops'), { ok: true, room: 'ops' }, 'an existing room is no error');
      const fresh = await cluster.client(t, 3);
      await pollUntil(
        async () => fresh.roomList?.length,
        (length) => length === ROOM_LIMIT,
        { what: 'the full list' },
      );
      assert.equal(fresh.roomList?.includes('one-too-many'), false);

      // At most MAX_JOINED_ROOMS at once, the default room included.
      for (const room of created.slice(0, MAX_JOINED_ROOMS - 1)) assert.deepEqual(await ask(client.socket, 'join', room), { ok: true, room });
      assert.deepEqual(await ask(client.socket, 'join', created.at(-1)), { ok: false, error: `already in ${MAX_JOINED_ROOMS} rooms: leave one first` });
      assert.deepEqual(await ask(client.socket, 'leave', created[0]), { ok: true, room: created[0] });
      assert.deepEqual(await ask(client.socket, 'join', created.at(-1)), { ok: true, room: created.at(-1) });
    });
  });
}
