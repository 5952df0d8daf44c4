/**
 * The live path loses a message, the log does not (server/chat/delivery.ts): each way the live path can
 * fail is caused for real, on three replicas and one redis-server, and every client's messages are
 * counted by id. Everyone chats in a room of its own making (not the default one): the guarantee
 * holds room by room, and nobody receives another room's messages or positions. Once with each adapter; then the negative controls, with the position
 * announcements off, show that the tests see a lost message when nothing fills the gap.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient, type RedisClientType } from 'redis';
import { pino } from 'pino';
import type { ChildService } from '../lab/cluster/child-process.js';
import { loadConfig, type RedisAdapterKind } from '../server/config.js';
import { startChatServer, type RunningChatServer } from '../server/server.js';
import { startRedisCutter } from './fixtures/redis-cutter.js';
import { assertExactlyOnce, freePort, ListeningClient, makeTempDir, WITHOUT_RATE_LIMIT, pollUntil, startRedis, startReplica } from './helpers.js';

/** Short, so that a lost message is found quickly; production's default is 2 s. */
const POSITION_INTERVAL_MS = 300;
/** A heartbeat of 1 s in all, so that a paused replica's clients give up on it quickly. */
const HEARTBEAT = { PING_INTERVAL_MS: '500', PING_TIMEOUT_MS: '500' };
/** How long a lost message may take to be filled in: a few position intervals. */
const FILLED_WITHIN_MS = 3000;

/** The room every client of the cluster below chats in. */
const ROOM = 'faults';

/** Three replicas on one Redis; replica 1 reaches it through a RedisCutter. */
async function startCluster(options: { adapter: RedisAdapterKind; positionIntervalMs: number }) {
  const dir = makeTempDir('delivery');
  const redisPort = await freePort();
  const redis = await startRedis({ port: redisPort, dir });
  const cutter = await startRedisCutter(redisPort);
  const admin = createClient({ url: `redis://127.0.0.1:${redisPort}` }) as RedisClientType;
  await admin.connect();
  const env = { ...WITHOUT_RATE_LIMIT, ...HEARTBEAT, REDIS_ADAPTER: options.adapter, POSITION_INTERVAL_MS: String(options.positionIntervalMs) };
  const replicas = new Map<number, { service: ChildService; url: string }>();
  await Promise.all(
    [1, 2, 3].map(async (number) => {
      const port = await freePort();
      const redisUrl = `redis://127.0.0.1:${number === 1 ? cutter.port : redisPort}`;
      replicas.set(number, { service: await startReplica({ number, port, redisUrl, dir, env }), url: `http://127.0.0.1:${port}` });
    }),
  );
  const creator = await ListeningClient.connect(replicas.get(2)!.url);
  assert.deepEqual(await creator.socket.emitWithAck('create room', ROOM), { ok: true, room: ROOM });
  creator.close();
  return {
    admin,
    cutter,
    replica(number: number) {
      const found = replicas.get(number);
      assert.ok(found, `replica ${number} was not started`);
      return found;
    },
    async listen(t: TestContext, number: number, options: { reconnection?: boolean } = {}): Promise<ListeningClient> {
      const client = await ListeningClient.connect(this.replica(number).url, { ...options, room: ROOM });
      t.after(() => client.close());
      return client;
    },
    sender(t: TestContext, number: number): Promise<ListeningClient> {
      return this.listen(t, number);
    },
    /** Redis refuses PUBLISH and SPUBLISH to the replicas' user until `allow()`; subscriptions stay up. */
    async refusePublish(): Promise<{ allow(): Promise<void> }> {
      await admin.sendCommand(['ACL', 'SETUSER', 'default', '-publish', '-spublish']);
      return { allow: async () => void (await admin.sendCommand(['ACL', 'SETUSER', 'default', '+@all'])) };
    },
    async stop(): Promise<void> {
      for (const { service } of replicas.values()) if (!service.hasExited()) process.kill(service.pid, 'SIGCONT');
      await Promise.all([...replicas.values()].map(({ service }) => service.stop()));
      admin.destroy();
      await cutter.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Cluster = Awaited<ReturnType<typeof startCluster>>;

async function acknowledged(sender: ListeningClient, text: string): Promise<string> {
  const result = await sender.send(text);
  assert.ok(result !== 'no answer' && result.ok, `${text}: ${JSON.stringify(result)}`);
  return result.id;
}

/** Cuts replica 1's command connection right after it appended `text`; its PUBLISH is lost. */
async function sendAndCut(cluster: Cluster, socket: ListeningClient, text: string): Promise<string> {
  await acknowledged(socket, `so that Redis holds the append script ${randomUUID()}`);
  const cut = cluster.cutter.cutAfterNextAppend();
  const id = await acknowledged(socket, text);
  await cut;
  return id;
}

for (const adapter of ['classic', 'sharded'] as const satisfies RedisAdapterKind[]) {
  describe(`a message the live path lost reaches every client from the log (${adapter} adapter)`, { timeout: 60_000 }, () => {
    let cluster: Cluster;
    before(async () => {
      cluster = await startCluster({ adapter, positionIntervalMs: POSITION_INTERVAL_MS });
    });
    after(() => cluster?.stop());

    test('PUBLISH refused while every subscription stays up: the client on another replica gets the message, once', async (t) => {
      const listener = await cluster.listen(t, 3);
      const socket = await cluster.sender(t, 1);
      const publishing = await cluster.refusePublish();
      let id: string;
      try {
        id = await acknowledged(socket, `sent while PUBLISH is refused ${randomUUID()}`);
        await listener.waitForIds([id], 'the message on replica 3', FILLED_WITHIN_MS);
      } finally {
        await publishing.allow();
      }
      assert.equal(listener.liveCopies.has(id), false, 'it came live: the publish was not refused');
      assertExactlyOnce(listener, [id], 'the client on replica 3');
    });

    test("replica 1's connection to Redis cut right after an append: the clients of replicas 2 and 3 get the message, once", async (t) => {
      const listeners = { 2: await cluster.listen(t, 2), 3: await cluster.listen(t, 3) };
      const socket = await cluster.sender(t, 1);
      const id = await sendAndCut(cluster, socket, `appended, then cut off ${randomUUID()}`);
      for (const [number, listener] of Object.entries(listeners)) {
        await listener.waitForIds([id], `the message on replica ${number}`, FILLED_WITHIN_MS);
        assert.equal(listener.liveCopies.has(id), false, `it came live to replica ${number}: the cut was too late`);
        assertExactlyOnce(listener, [id], `the client on replica ${number}`);
      }
    });

    test('replica 2 paused (SIGSTOP) past the heartbeat while replica 1 chats, then resumed: its client holds every message once', async (t) => {
      const listeners = { 2: await cluster.listen(t, 2, { reconnection: true }), 3: await cluster.listen(t, 3) };
      const socket = await cluster.sender(t, 1);
      const paused = cluster.replica(2).service;
      const ids: string[] = [];
      process.kill(paused.pid, 'SIGSTOP');
      try {
        await pollUntil(
          async () => listeners[2].socket.connected,
          (connected) => !connected,
          { what: 'the client of the paused replica to give up on it' },
        );
        for (let n = 0; n < 10; n++) ids.push(await acknowledged(socket, `while replica 2 is paused ${n} ${randomUUID()}`));
      } finally {
        process.kill(paused.pid, 'SIGCONT');
      }
      ids.push(await acknowledged(socket, `after replica 2 resumed ${randomUUID()}`));
      for (const [number, listener] of Object.entries(listeners)) {
        await listener.waitForIds(ids, `every message on replica ${number}`, 10_000);
        assertExactlyOnce(listener, ids, `the client on replica ${number}`, { moved: number === '2' });
      }
      assert.ok(listeners[2].welcomes.length >= 2, 'the client of replica 2 never reconnected: it was not paused long enough');
    });
  });
}

describe('negative controls: position announcements off (POSITION_INTERVAL_MS=0)', { timeout: 60_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ adapter: 'classic', positionIntervalMs: 0 });
  });
  after(() => cluster?.stop());

  /** Longer than the real configuration ever needed, so that "not arrived" means lost. */
  const LOST_AFTER_MS = FILLED_WITHIN_MS;

  test('PUBLISH refused: the message stays lost until a later one shows the gap, which is then filled', async (t) => {
    const listener = await cluster.listen(t, 3);
    const socket = await cluster.sender(t, 1);
    const publishing = await cluster.refusePublish();
    let lost: string;
    try {
      lost = await acknowledged(socket, `lost while PUBLISH is refused ${randomUUID()}`);
      // Still refused meanwhile: the acknowledgement can overtake the replica's PUBLISH.
      await delay(LOST_AFTER_MS);
    } finally {
      await publishing.allow();
    }
    assert.equal(listener.ids().includes(lost), false, 'the lost message arrived with nothing to fill the gap: the test cannot fail');
    // The next message's `prev` is the lost one: the client sees the gap and catches up.
    const next = await acknowledged(socket, `after PUBLISH is allowed again ${randomUUID()}`);
    await listener.waitForIds([lost, next], 'both messages, the lost one caught up');
    assertExactlyOnce(listener, [lost, next], 'the client on replica 3');
  });

  test('connection cut after an append: the message stays lost', async (t) => {
    const listener = await cluster.listen(t, 2);
    const socket = await cluster.sender(t, 1);
    const lost = await sendAndCut(cluster, socket, `lost by a cut ${randomUUID()}`);
    await delay(LOST_AFTER_MS);
    assert.equal(listener.ids().includes(lost), false, 'the lost message arrived with nothing to fill the gap: the test cannot fail');
  });
});

describe('a gap the log can no longer fill (a single node, its log kept to 20 messages)', () => {
  let server: RunningChatServer;
  before(async () => {
    const config = loadConfig({ MESSAGE_LOG_CAPACITY: '20', RATE_LIMIT_BURST: '1000', RATE_LIMIT_PER_SECOND: '1000' });
    server = await startChatServer({ ...config, port: 0 }, pino({ level: 'silent' }));
  });
  after(() => server?.close());

  test('a client that was away while 50 messages came is told that older ones are gone, and holds the newest', async (t) => {
    const url = `http://127.0.0.1:${server.port}`;
    const listener = await ListeningClient.connect(url, { reconnection: true });
    t.after(() => listener.close());
    const socket = await ListeningClient.connect(url);
    t.after(() => socket.close());
    const seen = await acknowledged(socket, 'seen before going away');
    await listener.waitForIds([seen], 'the first message');

    listener.socket.disconnect();
    const ids: string[] = [];
    for (let n = 0; n < 50; n++) ids.push(await acknowledged(socket, `while away ${n}`));
    listener.socket.connect();

    await listener.waitForIds(ids.slice(-20), 'the newest 20 messages, which the log still holds');
    assert.equal(listener.missingReports, 1, 'the catch-up did not say that messages are missing');
    assert.equal(listener.ids().includes(ids[0]!), false, 'a trimmed message arrived');
  });
});
