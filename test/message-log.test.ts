/**
 * The message log's contract (server/chat/message-log.ts), checked against both implementations: the
 * Redis Stream of a cluster, on a real redis-server, and the in-memory log of a single node.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import type { ChildService } from '../lab/cluster/child-process.js';
import { compareLogIds, isLogId } from '../shared/log-id.js';
import { createMemoryLog, type MessageLog, type NewMessage } from '../server/chat/message-log.js';
import { createMetrics } from '../server/metrics.js';
import { createRedisMessageLog, logKey } from '../server/redis/redis-message-log.js';
import { freePort, makeTempDir, startRedis } from './helpers.js';

const logger = pino({ level: 'silent' });
/** Small, so that trimming is quick to see; Redis trims whole stream nodes of 100 entries. */
const CAPACITY = 150;
/** A lone redis-server has no replica to wait for. */
const alone = (client: RedisClientType) => ({ commands: client, replicated: async () => {} });
/** The room of the contract's logs. */
const ROOM = 'general';

function draft(text: string): NewMessage {
  return { name: 'Ada', text, instance: '1', at: Date.now() };
}

function describeLogContract(name: string, open: () => Promise<MessageLog>): void {
  describe(`the message log: ${name}`, () => {
    let log: MessageLog;
    before(async () => {
      log = await open();
    });

    test('an empty log: newest id 0-0, the first message follows 0-0', async () => {
      assert.equal(await log.newestId(), '0-0');
      const first = await log.append(draft('the first'), 'first-key');
      assert.equal(first.message?.prev, '0-0');
      assert.equal(await log.newestId(), first.id);
    });

    test('append gives each message a log id, increasing with every append, and the id before it', async () => {
      const ids: string[] = [await log.newestId()];
      for (let i = 0; i < 5; i++) {
        const appended = await log.append(draft(`ordered ${i}`), `order-key-${i}`);
        assert.equal(appended.duplicate, false);
        assert.ok(isLogId(appended.id), appended.id);
        assert.equal(appended.message.id, appended.id);
        assert.equal(appended.message.prev, ids.at(-1));
        assert.equal(appended.message.text, `ordered ${i}`);
        ids.push(appended.id);
      }
      for (let i = 1; i < ids.length; i++) assert.ok(compareLogIds(ids[i - 1]!, ids[i]!) < 0, `${ids[i - 1]} before ${ids[i]}`);
      assert.equal(await log.newestId(), ids.at(-1));
    });

    test('a second append with the same key logs nothing and returns the first message', async () => {
      const first = await log.append(draft('said once'), 'same-key-1');
      const again = await log.append(draft('said twice?'), 'same-key-1');
      assert.deepEqual(again, { duplicate: true, id: first.id, message: first.message });
      assert.equal((await log.latest(5)).filter((message) => message.text.startsWith('said')).length, 1);
    });

    test('latest(n): the newest n, oldest first', async () => {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await log.append(draft(`latest ${i}`), `latest-key-${i}`)).id);
      assert.deepEqual(
        (await log.latest(3)).map((message) => message.id),
        ids,
      );
      assert.deepEqual(
        (await log.latest(2)).map((message) => message.id),
        ids.slice(1),
      );
    });

    test('after(id, n): exactly the messages after id, the oldest n of them, oldest first', async () => {
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push((await log.append(draft(`after ${i}`), `after-key-${i}`)).id);
      assert.deepEqual(
        (await log.after(ids[0]!, 10)).map((message) => message.id),
        ids.slice(1),
      );
      assert.deepEqual(
        (await log.after(ids[0]!, 2)).map((message) => message.id),
        ids.slice(1, 3),
      );
      assert.deepEqual(await log.after(ids[3]!, 10), []);
    });

    test(`keeps at least its capacity (${CAPACITY}), and trims older messages`, async () => {
      const first = await log.append(draft('soon trimmed'), 'trim-first');
      const ids: string[] = [];
      for (let i = 0; i < CAPACITY + 200; i++) ids.push((await log.append(draft(`filler ${i}`), `trim-${i}`)).id);
      const kept = await log.after('0-0', 10 * CAPACITY);
      assert.ok(kept.length >= CAPACITY, `kept ${kept.length}`);
      assert.ok(kept.length < CAPACITY + 200, `kept ${kept.length}: nothing was trimmed`);
      assert.deepEqual(
        kept.slice(-CAPACITY).map((message) => message.id),
        ids.slice(-CAPACITY),
      );
      // What is left starts after a gap: its first entry does not follow on 0-0.
      assert.notEqual(kept[0]!.prev, '0-0');
      assert.ok(!kept.some((message) => message.id === first.id), 'the oldest message is still there');
      // Its key is still remembered: a late retry is recognised, though the message is gone.
      assert.deepEqual(await log.append(draft('soon trimmed'), 'trim-first'), { duplicate: true, id: first.id, message: undefined });
    });
  });
}

describeLogContract('in memory (single node)', async () => createMemoryLog(ROOM, CAPACITY));

describe('on a real redis-server', () => {
  let dir: string;
  let redis: ChildService | undefined;
  let client: RedisClientType;

  before(async () => {
    dir = makeTempDir('message-log');
    const port = await freePort();
    redis = await startRedis({ port, dir });
    client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on('error', () => {}); // the restart test below drops this connection
    await client.connect();
  });
  after(async () => {
    client?.destroy();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describeLogContract('a Redis Stream', async () => createRedisMessageLog(alone(client), ROOM, CAPACITY, logger, createMetrics()));

  test('each room is a log of its own: its own ids and prev, its own message keys, all under its hash tag', async () => {
    const general = createRedisMessageLog(alone(client), ROOM, CAPACITY, logger, createMetrics());
    const other = createRedisMessageLog(alone(client), 'other-room', CAPACITY, logger, createMetrics());
    await general.append(draft('in general'), 'same-key-in-two-rooms');
    const first = await other.append(draft('in other-room'), 'same-key-in-two-rooms');
    assert.equal(first.duplicate, false, 'a key of another room counted as a retry');
    assert.deepEqual(first.message && { room: first.message.room, prev: first.message.prev }, { room: 'other-room', prev: '0-0' });
    assert.deepEqual(
      (await other.latest(10)).map((message) => message.text),
      ['in other-room'],
    );
    // One hash tag per room: a Redis Cluster keeps a room's stream and its keys in one slot.
    assert.deepEqual((await client.keys('*other-room*')).sort(), ['{room:other-room}:key:same-key-in-two-rooms', '{room:other-room}:log']);
  });

  test('an entry that is not a chat message (written by anything else with access) is skipped', async () => {
    const log = createRedisMessageLog(alone(client), ROOM, CAPACITY, logger, createMetrics());
    const before = await log.append(draft('before the junk'), 'junk-before');
    await client.xAdd(logKey(ROOM), '*', { message: '{"text":42}' });
    await client.xAdd(logKey(ROOM), '*', { message: 'not json' });
    const afterJunk = await log.append(draft('after the junk'), 'junk-after');
    assert.deepEqual(
      (await log.after(before.id, 10)).map((message) => message.id),
      [afterJunk.id],
    );
  });

  test('after a restart of Redis with its append-only file, the log is still there', async () => {
    const log = createRedisMessageLog(alone(client), ROOM, CAPACITY, logger, createMetrics());
    const kept = await log.append(draft('survives a restart'), 'restart-key');
    const port = Number(new URL(client.options?.url ?? '').port);
    await redis?.stop();
    redis = await startRedis({ port, dir, name: 'redis-restarted' });
    const fresh = createClient({ url: `redis://127.0.0.1:${port}` });
    await fresh.connect();
    try {
      const reopened = createRedisMessageLog(alone(fresh as RedisClientType), ROOM, CAPACITY, logger, createMetrics());
      assert.deepEqual((await reopened.latest(1))[0], kept.message);
      // Its script cache was emptied by the restart: appending still works (NOSCRIPT, then EVAL).
      const next = await reopened.append(draft('after the restart'), 'restart-key-2');
      assert.ok(compareLogIds(kept.id, next.id) < 0);
    } finally {
      fresh.destroy();
    }
  });
});
