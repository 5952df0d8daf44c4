/**
 * The chat on a real Redis Cluster (lab/cluster/redis-cluster.ts: three primaries, a replica each, a
 * node timeout of one second), three replicas with the sharded adapter. Rooms spread over the
 * shards and their messages reach their members only; a primary SIGKILLed mid-conversation loses
 * no acknowledged message (WAIT); a Redis replica's death stops nothing; the whole Redis Cluster
 * down and back. Every client's messages are counted by id.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { REDIS_CLUSTER_SIZE, startRedisCluster, type RunningRedisCluster } from '../lab/cluster/redis-cluster.js';
import { logKey } from '../server/redis/redis-message-log.js';
import {
  assertExactlyOnce,
  copiesByText,
  EVENT_TIMEOUT_MS,
  freePort,
  httpGetText,
  ListeningClient,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  pollUntil,
  startTestReplicas,
} from './helpers.js';

/** What a send that meets its room's slot half moved is told (server/redis/redis-message-log.ts). */
const MOVING_REFUSAL = 'the message log (Redis) is moving this room to another node: not sent, try again';

const POSITION_INTERVAL_MS = 300;
/** A primary unreachable this long is replaced by its replica. */
const NODE_TIMEOUT_MS = 1000;
/** How long a message may be refused before the test gives up: a failover and a restart take ~10 s here. */
const SEND_DEADLINE_MS = 30_000;
/** How long the whole Redis Cluster is down. */
const OUTAGE_MS = 10_000;
/** Megabytes written to a primary while its replica is stopped: more than the sockets between them hold. */
const FILLER_MB = 40;
/** Idempotency keys put in a room's slot before it migrates, as a busy room has. */
const SEEDED_KEYS = 400;

async function startChat(options: { waitReplicas: number }) {
  const dir = makeTempDir('redis-cluster');
  // A port for each node, and one for its cluster bus.
  const free: number[] = [];
  while (free.length < 2 * REDIS_CLUSTER_SIZE) {
    const port = await freePort();
    if (!free.includes(port)) free.push(port);
  }
  const ports = free.slice(0, REDIS_CLUSTER_SIZE);
  const redis = await startRedisCluster({ ports, busPorts: free.slice(REDIS_CLUSTER_SIZE), dir, password: randomUUID(), nodeTimeoutMs: NODE_TIMEOUT_MS });
  const env = {
    ...WITHOUT_RATE_LIMIT,
    REDIS_CLUSTER_NODES: redis.urls.join(','),
    REDIS_ADAPTER: 'sharded',
    REDIS_WAIT_REPLICAS: String(options.waitReplicas),
    POSITION_INTERVAL_MS: String(POSITION_INTERVAL_MS),
  };
  const replicas = await startTestReplicas({ numbers: [1, 2, 3], dir, env }).catch(async (err) => {
    await redis.stop();
    throw err;
  });
  return {
    redis,
    ports,
    client: replicas.client,
    /** chat_messages_under_replicated_total of replica `number`: acknowledged with fewer Redis replicas than asked for. */
    async underReplicated(number: number): Promise<number> {
      const body = (await httpGetText(`${replicas.url(number)}/metrics`)).body;
      return Number(/^chat_messages_under_replicated_total (\d+)$/m.exec(body)?.[1]);
    },
    /** Creates `rooms` through a client of replica 1. */
    async createRooms(rooms: string[]): Promise<void> {
      const creator = await ListeningClient.connect(replicas.url(1));
      try {
        for (const room of rooms) assert.deepEqual(await creator.socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('create room', room), { ok: true, room });
      } finally {
        creator.close();
      }
    },
    async stop(): Promise<void> {
      await replicas.stop();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Stops `replica` (SIGSTOP), runs `whileStopped`, SIGKILLs `room`'s `primary` and resumes the
 * replica; resolves with what `whileStopped` gave once the replica has been promoted in its place.
 */
async function killPrimaryWhileReplicaStopped<T>(
  chat: Awaited<ReturnType<typeof startChat>>,
  room: string,
  primary: number,
  replica: { pid: number },
  whileStopped: () => Promise<T>,
): Promise<T> {
  process.kill(replica.pid, 'SIGSTOP');
  let result: T;
  try {
    result = await whileStopped();
    process.kill(chat.redis.node(primary).pid, 'SIGKILL');
  } finally {
    process.kill(replica.pid, 'SIGCONT');
  }
  await pollUntil(
    () => chat.redis.primaryOf(logKey(room)),
    (port) => port !== primary,
    { what: 'the replica promoted', timeoutMs: 20_000, intervalMs: 200 },
  );
  return result;
}

/** Two room names whose logs live on different primaries (each its own `{room:<name>}` slot). */
async function roomsOnTwoShards(redis: RunningRedisCluster): Promise<[string, string]> {
  const candidates = ['ops', 'dev', 'sales', 'support', 'design', 'random'];
  const first = candidates[0]!;
  const firstPrimary = await redis.primaryOf(logKey(first));
  for (const room of candidates.slice(1)) if ((await redis.primaryOf(logKey(room))) !== firstPrimary) return [first, room];
  throw new Error('every candidate room hashes to one shard');
}

/** The port of a primary other than `taken`'s. */
async function thirdPrimary(redis: RunningRedisCluster, taken: number[]): Promise<number> {
  for (let n = 0; n < 100; n++) {
    const port = await redis.primaryOf(`{probe-${n}}`);
    if (!taken.includes(port)) return port;
  }
  throw new Error(`every probed key hashes to ${taken.join(' or ')}`);
}

/**
 * Sends `text` under `key` as the page's outbox does, again and again until it is acknowledged:
 * its id, and the retryable refusals (or 'no answer') on the way.
 */
async function sendUntilAcknowledged(sender: ListeningClient, text: string, key: string, refusals: string[]): Promise<string> {
  const deadline = Date.now() + SEND_DEADLINE_MS;
  for (;;) {
    const result = await sender.send(text, key);
    if (result !== 'no answer' && result.ok) return result.id;
    // No answer within EVENT_TIMEOUT_MS: the page's outbox sends it again too.
    if (result === 'no answer') refusals.push(result);
    else {
      assert.equal(result.retryable, true, `${text}: refused for good: ${result.error}`);
      refusals.push(result.error);
    }
    assert.ok(Date.now() < deadline, `${text}: not acknowledged within ${SEND_DEADLINE_MS} ms; last: ${refusals.at(-1)}`);
    await delay(100);
  }
}

/**
 * Sends `count` messages, each until it is acknowledged. Returns their ids, the retryable refusals
 * on the way, and the longest a message took from its first send to its acknowledgement.
 */
async function chatThrough(sender: ListeningClient, count: number, label: string, during?: (sent: number) => Promise<void>) {
  const ids: string[] = [];
  const refusals: string[] = [];
  let longestMs = 0;
  for (let n = 0; n < count; n++) {
    await during?.(n);
    const started = performance.now();
    ids.push(await sendUntilAcknowledged(sender, `${label} ${n}`, randomUUID(), refusals));
    longestMs = Math.max(longestMs, performance.now() - started);
  }
  return { ids, refusals, longestMs };
}

describe('on a real Redis Cluster (three primaries, a replica each), sharded adapter, WAIT for one replica', { timeout: 120_000 }, () => {
  let chat: Awaited<ReturnType<typeof startChat>>;
  let rooms: [string, string];
  before(async () => {
    chat = await startChat({ waitReplicas: 1 });
    rooms = await roomsOnTwoShards(chat.redis);
    await chat.createRooms(rooms);
  });
  after(() => chat?.stop());

  test("rooms on two shards: each room's messages reach its members on every replica and nobody else; presence and the panel see all three replicas", async (t) => {
    const [a, b] = rooms;
    const inA = [await chat.client(t, 1, { room: a }), await chat.client(t, 2, { room: a }), await chat.client(t, 3, { room: a, name: 'Ada' })];
    const inB = [await chat.client(t, 2, { room: b }), await chat.client(t, 3, { room: b })];
    const idsA = (await chatThrough(inA[0]!, 5, `in ${a}`)).ids;
    const idsB = (await chatThrough(inB[0]!, 5, `in ${b}`)).ids;
    for (const [index, client] of inA.entries()) {
      await client.waitForIds(idsA, `${a} on member ${index + 1}`);
      assertExactlyOnce(client, idsA, `member ${index + 1} of ${a}`);
    }
    for (const [index, client] of inB.entries()) {
      await client.waitForIds(idsB, `${b} on member ${index + 1}`);
      assertExactlyOnce(client, idsB, `member ${index + 1} of ${b}`);
    }
    await pollUntil(
      async () => inA[0]!.cluster?.instances.length,
      (count) => count === 3,
      { what: 'three replicas in the cluster panel' },
    );
    await pollUntil(async () => inA[0]!.here?.people.some(([name]) => name === 'Ada'), Boolean, { what: `Ada in ${a}` });
  });

  test("a busy room's slot migrates to another primary while its members on three replicas chat: sends are refused as retryable only, every acknowledged message reaches every member once, and live delivery resumes", async (t) => {
    const [room, elsewhere] = rooms;
    const from = await chat.redis.primaryOf(logKey(room));
    // The third primary: the two rooms stay on two shards for the tests after this one.
    const to = await thirdPrimary(chat.redis, [from, await chat.redis.primaryOf(logKey(elsewhere))]);
    const senders = [await chat.client(t, 1, { room }), await chat.client(t, 2, { room })];
    const members = [...senders, await chat.client(t, 3, { room })];
    // A busy room has an idempotency key per message of the last 15 minutes in its slot, and the
    // migration moves them one by one: the move lasts while the room chats.
    const seeding = createClient({ url: chat.redis.urls[chat.ports.indexOf(from)]! });
    await seeding.connect();
    await Promise.all(Array.from({ length: SEEDED_KEYS }, (_, n) => seeding.set(`{room:${room}}:key:seeded-${n}`, '0-1', { EX: 900 })));
    t.after(() => seeding.destroy());
    let migrated: Promise<void> | undefined;
    const conversations = await Promise.all(
      senders.map((sender, index) =>
        chatThrough(sender, 30, `while the slot moves, from ${index + 1}`, async (sent) => {
          if (index !== 0) return;
          if (sent === 10) migrated = chat.redis.migrateSlot(logKey(room), to);
          // The last ten once the slot has moved.
          if (sent === 20) await migrated;
        }),
      ),
    );
    assert.equal(await chat.redis.primaryOf(logKey(room)), to, 'the slot did not move');
    assert.notEqual(from, to);
    // Each replica's subscription to the room's channel was made on the old owner: a message sent
    // now must still arrive live on every member, not only through the position and catch-up.
    const probes: string[] = [];
    await pollUntil(
      async () => {
        const { ids } = await chatThrough(senders[0]!, 1, 'after the move');
        probes.push(...ids);
        await pollUntil(async () => members.every((member) => member.liveCopies.has(ids[0]!)), Boolean, {
          what: 'a live copy',
          timeoutMs: 1000,
          intervalMs: 20,
        });
        return true;
      },
      Boolean,
      { what: 'a message after the move delivered live to every member', timeoutMs: 10_000 },
    );
    const ids = [...conversations.flatMap((conversation) => conversation.ids), ...probes];
    for (const [index, member] of members.entries()) {
      await member.waitForIds(ids, `every acknowledged message on member ${index + 1}`);
      assertExactlyOnce(member, ids, `member ${index + 1}`);
    }
    const refusals = conversations.flatMap((conversation) => conversation.refusals);
    t.diagnostic(`${refusals.length} sends refused during the move: ${[...new Set(refusals)].join('; ')}`);
    // Otherwise the move happened between two sends, and the test showed nothing.
    assert.ok(refusals.includes(MOVING_REFUSAL), 'no send met the slot half moved');
  });

  test('a message refused after a WAIT timeout (its Redis replica stopped) and sent again with its key through another replica: refused until a Redis replica can have it, even after its primary dies; then logged once and delivered once', async (t) => {
    const [room] = rooms;
    const primary = await chat.redis.primaryOf(logKey(room));
    const replica = chat.redis.node(await chat.redis.replicaOf(primary));
    const first = await chat.client(t, 1, { room, reconnection: true });
    const second = await chat.client(t, 2, { room, reconnection: true });
    const member = await chat.client(t, 3, { room, reconnection: true });
    const text = 'refused after WAIT timed out';
    const key = randomUUID();
    await killPrimaryWhileReplicaStopped(chat, room, primary, replica, async () => {
      const refused = await first.send(text, key);
      assert.ok(refused !== 'no answer' && !refused.ok && refused.retryable && /did not confirm/.test(refused.error), JSON.stringify(refused));
      // Logged on the primary, not on its replica. The retry goes through another replica's
      // connection to that primary: its WAIT must cover the entry the first attempt wrote.
      const retried = await second.send(text, key);
      assert.ok(retried !== 'no answer' && !retried.ok, `acknowledged while no Redis replica had it: ${JSON.stringify(retried)}`);
    });
    const restarting = chat.redis.restart(primary);
    const id = await sendUntilAcknowledged(second, text, key, []);
    await restarting;
    await member.waitForIds([id], 'the acknowledged message');
    assert.deepEqual(
      member.ids().filter((held) => held === id),
      [id],
    );
    const newcomer = await chat.client(t, 1, { room });
    assert.equal(copiesByText(newcomer).get(text), 1, 'the log holds the message once');
    assert.ok(newcomer.ids().includes(id));
    // A page that caught up the first attempt's entry from the primary before it died holds it
    // under an id the promoted replica may not have (docs/rooms-and-redis-cluster.md).
    t.diagnostic(`the member holds the text ${copiesByText(member).get(text)} time(s)`);
    await chat.redis.waitUntilHealthy();
  });

  test("the primary of a busy room's slot SIGKILLed mid-conversation and left dead: sends there wait or are refused as retryable until its replica is promoted, then are acknowledged with the one copy left (counted); every acknowledged message reaches every member once", async (t) => {
    const [room, elsewhere] = rooms;
    const killed = await chat.redis.primaryOf(logKey(room));
    const members = [await chat.client(t, 2, { room, reconnection: true }), await chat.client(t, 3, { room, reconnection: true })];
    const sender = await chat.client(t, 1, { room, reconnection: true });
    const other = await chat.client(t, 2, { room: elsewhere });
    const underReplicatedBefore = await chat.underReplicated(1);
    let promoted: Promise<unknown> | undefined;
    const { ids, refusals, longestMs } = await chatThrough(sender, 30, 'through a failover', async (sent) => {
      if (sent === 10) {
        process.kill(chat.redis.node(killed).pid, 'SIGKILL');
        promoted = pollUntil(
          () => chat.redis.primaryOf(logKey(room)),
          (port) => port !== killed,
          { what: 'a replica promoted', timeoutMs: 20_000, intervalMs: 200 },
        );
        // Meanwhile, a room on another shard goes on.
        await chatThrough(other, 1, 'on another shard');
      }
      // The last ten once the replica is promoted: the killed node stays dead throughout.
      if (sent === 20) await promoted;
    });
    // Until the promotion, a send waits for node-redis to find the slot's new primary, or is refused.
    t.diagnostic(`the longest send took ${Math.round(longestMs)} ms; refused meanwhile: ${[...new Set(refusals)].join('; ') || 'none'}`);
    assert.ok(longestMs > NODE_TIMEOUT_MS, 'no send waited for the failover: the primary did not die mid-conversation');
    assert.ok(chat.redis.node(killed).hasExited(), 'the killed node came back');
    assert.notEqual(await chat.redis.primaryOf(logKey(room)), killed, 'no replica was promoted');
    assert.ok((await chat.underReplicated(1)) - underReplicatedBefore >= 10, 'the messages acknowledged with one copy were not counted');
    for (const [index, member] of members.entries()) {
      await member.waitForIds(ids, `every acknowledged message on member ${index + 1}`, 15_000);
      assertExactlyOnce(member, ids, `member ${index + 1}`, { moved: true });
    }
    const newcomer = await chat.client(t, 3, { room });
    assert.deepEqual(
      ids.filter((id) => !newcomer.ids().includes(id)),
      [],
      'acknowledged messages missing from the log',
    );
    // Back as the promoted node's replica, for the tests after this one.
    await chat.redis.restart(killed);
    await chat.redis.waitUntilHealthy();
  });

  test("a Redis replica SIGKILLed: its primary's rooms go on with one copy (counted), other shards too; back, nothing acknowledged is missing", async (t) => {
    const [room, elsewhere] = rooms;
    const replica = await chat.redis.replicaOf(await chat.redis.primaryOf(logKey(room)));
    const member = await chat.client(t, 3, { room });
    const sender = await chat.client(t, 1, { room });
    const other = await chat.client(t, 2, { room: elsewhere });
    const before = await chatThrough(sender, 3, 'before the replica dies');
    const underReplicatedBefore = await chat.underReplicated(1);
    process.kill(chat.redis.node(replica).pid, 'SIGKILL');
    const whileDead = await chatThrough(sender, 3, 'while the replica is dead');
    const elsewhereIds = (await chatThrough(other, 3, 'on another shard meanwhile')).ids;
    assert.ok(chat.redis.node(replica).hasExited());
    assert.ok((await chat.underReplicated(1)) - underReplicatedBefore >= 3, 'the messages acknowledged with one copy were not counted');
    await chat.redis.restart(replica);
    await chat.redis.waitUntilHealthy();
    const afterIds = (await chatThrough(sender, 3, 'once the replica is back')).ids;
    const ids = [...before.ids, ...whileDead.ids, ...afterIds];
    await member.waitForIds(ids, 'every acknowledged message');
    assertExactlyOnce(member, ids, 'the member');
    await other.waitForIds(elsewhereIds, 'the other shard');
  });

  test('the whole Redis Cluster down for 10 s and back: sends are refused as retryable meanwhile; afterwards every acknowledged message reaches every member once', async (t) => {
    const [room] = rooms;
    const members = [await chat.client(t, 2, { room }), await chat.client(t, 3, { room })];
    const sender = await chat.client(t, 1, { room });
    const before = await chatThrough(sender, 3, 'before the outage');
    for (const port of chat.ports) process.kill(chat.redis.node(port).pid, 'SIGKILL');
    await pollUntil(async () => chat.ports.every((port) => chat.redis.node(port).hasExited()), Boolean, { what: 'every Redis node gone' });
    const refused = await sender.send('during the outage');
    assert.ok(refused !== 'no answer' && !refused.ok && refused.retryable, `not refused as retryable: ${JSON.stringify(refused)}`);
    await delay(OUTAGE_MS);
    await Promise.all(chat.ports.map((port) => chat.redis.restart(port)));
    await chat.redis.waitUntilHealthy();
    const afterIds = (await chatThrough(sender, 3, 'after the outage')).ids;
    const ids = [...before.ids, ...afterIds];
    for (const [index, member] of members.entries()) {
      await member.waitForIds(ids, `every acknowledged message on member ${index + 1}`);
      assertExactlyOnce(member, ids, `member ${index + 1}`);
    }
  });
});

describe('negative control: acknowledgements without WAIT (REDIS_WAIT_REPLICAS=0)', { timeout: 120_000 }, () => {
  let chat: Awaited<ReturnType<typeof startChat>>;
  const room = 'ops';
  before(async () => {
    chat = await startChat({ waitReplicas: 0 });
    await chat.createRooms([room]);
  });
  after(() => chat?.stop());

  test('an acknowledged message is lost when the primary dies before its replica has it', async (t) => {
    const primary = await chat.redis.primaryOf(logKey(room));
    const replica = chat.redis.node(await chat.redis.replicaOf(primary));
    const sender = await chat.client(t, 1, { room });
    // The replica stops reading; enough other writes to the same primary fill the sockets between
    // them, so that the next write waits in the primary's memory, which SIGKILL loses.
    const lost = await killPrimaryWhileReplicaStopped(chat, room, primary, replica, async () => {
      const direct = createClient({ url: chat.redis.urls[chat.ports.indexOf(primary)]! });
      await direct.connect();
      const filler = 'x'.repeat(1024 * 1024);
      await Promise.all(Array.from({ length: FILLER_MB }, (_, n) => direct.set(`{room:${room}}:filler:${n}`, filler)));
      direct.destroy();
      const result = await sender.send('acknowledged by the primary alone');
      assert.ok(result !== 'no answer' && result.ok, JSON.stringify(result));
      return result.id;
    });
    const reader = await pollUntil(
      () => chat.client(t, 2, { room }),
      () => true,
      { what: 'a client caught up on the room from the promoted replica', timeoutMs: 20_000, intervalMs: 500 },
    );
    assert.equal(reader.ids().includes(lost), false, 'the message survived: the test cannot show what WAIT prevents');
  });
});
