/**
 * Two real replicas (`node dist/main.js`) sharing one real redis-server, each with a real
 * Socket.IO client: what the Redis adapter is for. Once with each adapter REDIS_ADAPTER offers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createClient } from 'redis';
import type { ChildService } from '../cluster/child-process.js';
import { REDIS_ADAPTER_KINDS } from '../server/config.js';
import { MAX_MESSAGE_LENGTH } from '../shared/text.js';
import {
  connectChatClient,
  EVENT_TIMEOUT_MS,
  freePort,
  getHealth,
  makeTempDir,
  nextChatMessage,
  pollUntil,
  sendMessage,
  spawnReplica,
  startRedis,
  startReplica,
  untyped,
  withTimeout,
  type ChatSocket,
  type Health,
} from './helpers.js';

for (const adapter of REDIS_ADAPTER_KINDS)
  describe(`two replicas sharing a real Redis, ${adapter} adapter`, { timeout: 60_000 }, () => {
    let dir: string;
    let redisPort: number;
    let redisUrl: string;
    let redis: ChildService | undefined;
    const replicas = new Map<number, { service: ChildService; url: string }>();

    async function addReplica(number: number): Promise<{ service: ChildService; url: string }> {
      const port = await freePort();
      const service = await startReplica({ number, port, redisUrl, dir, env: { REDIS_ADAPTER: adapter } });
      const replica = { service, url: `http://127.0.0.1:${port}` };
      replicas.set(number, replica);
      return replica;
    }

    function replica(number: number): { service: ChildService; url: string } {
      const found = replicas.get(number);
      assert.ok(found, `replica ${number} was not started`);
      return found;
    }

    /** A connected client of replica `number`, closed when the test ends. */
    async function client(t: TestContext, number: number): Promise<ChatSocket> {
      const { socket } = await connectChatClient(replica(number).url);
      t.after(() => socket.close());
      return socket;
    }

    before(async () => {
      dir = makeTempDir('replicas');
      redisPort = await freePort();
      redisUrl = `redis://127.0.0.1:${redisPort}`;
      redis = await startRedis({ port: redisPort, dir });
      await Promise.all([addReplica(1), addReplica(2)]);
    });

    after(async () => {
      await Promise.all([...replicas.values()].map(({ service }) => service.stop()));
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('each client is welcomed by its own replica', async () => {
      const [one, two] = await Promise.all([connectChatClient(replica(1).url), connectChatClient(replica(2).url)]);
      try {
        assert.equal(one.welcome.instance, '1');
        assert.equal(two.welcome.instance, '2');
      } finally {
        one.socket.close();
        two.socket.close();
      }
    });

    test('a message sent on replica 1 reaches the clients of both replicas', async (t) => {
      const [sender, receiver] = await Promise.all([client(t, 1), client(t, 2)]);
      const text = `hello across replicas ${randomUUID()}`;
      const onReceiver = nextChatMessage(receiver, 'the message on replica 2');
      const onSender = nextChatMessage(sender, 'the message echoed on replica 1');

      const sentAt = Date.now();
      const ack = await sender.timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', text);
      const [received, echoed] = await Promise.all([onReceiver, onSender]);

      assert.equal(typeof received.id, 'string');
      assert.ok(received.id.length > 0);
      assert.deepEqual(ack, { ok: true, id: received.id });
      assert.equal(received.text, text);
      assert.equal(received.instance, '1');
      assert.equal(typeof received.at, 'number');
      assert.ok(received.at >= sentAt - 1000 && received.at <= Date.now() + 1000, `at ${received.at} is not about now (${sentAt})`);
      assert.deepEqual(echoed, received);
    });

    test(`the adapter's channels are ${adapter === 'sharded' ? 'shard channels (SSUBSCRIBE)' : 'ordinary channels (SUBSCRIBE)'}`, async (t) => {
      const redisClient = createClient({ url: redisUrl });
      await redisClient.connect();
      t.after(() => redisClient.close());
      const ours = (channels: string[]) => channels.filter((channel) => channel.startsWith('socket.io'));
      const [channels, shardChannels] = await Promise.all([
        redisClient.sendCommand<string[]>(['PUBSUB', 'CHANNELS']),
        redisClient.sendCommand<string[]>(['PUBSUB', 'SHARDCHANNELS']),
      ]);
      const [used, unused] = adapter === 'sharded' ? [shardChannels, channels] : [channels, shardChannels];
      assert.ok(ours(used).length > 0, `no adapter channel among ${JSON.stringify(used)}`);
      assert.deepEqual(ours(unused), []);
    });

    test('bad input is refused with a reason, broadcast to nobody, and does not hurt the replica', async (t) => {
      const [sender, receiver] = await Promise.all([client(t, 1), client(t, 2)]);
      const received: unknown[] = [];
      receiver.on('chat message', (message) => received.push(message));
      sender.on('chat message', (message) => received.push(message));

      const refusals: [payload: unknown, error: string][] = [
        [42, 'message must be text, or { text, room, key }'],
        [{ text: 42 }, 'message must be text'],
        [{ text: 'hi', key: 'not a key' }, 'key must be 8-64 letters, digits, - or _'],
        ['', 'message is empty'],
        ['x'.repeat(MAX_MESSAGE_LENGTH + 1), `message is longer than ${MAX_MESSAGE_LENGTH} characters`],
      ];
      for (const [payload, error] of refusals) {
        const ack: unknown = await untyped(sender).timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', payload);
        assert.deepEqual(ack, { ok: false, error, retryable: false }, `ack for ${JSON.stringify(payload).slice(0, 40)}`);
      }
      // No acknowledgement to answer, and arguments of the wrong kinds: the server must not throw.
      untyped(sender).emit('chat message');
      untyped(sender).emit('chat message', null, 'not a function', 42);
      untyped(sender).emit('chat message', { toString: 'x' }, { nested: [1, 2] });

      // Events on one socket are handled in order, so had anything above been broadcast, it would
      // arrive before this valid message.
      const valid = `valid after garbage ${randomUUID()}`;
      const firstOnReceiver = nextChatMessage(receiver, 'the valid message on replica 2');
      const ack = await sender.timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', valid);
      assert.equal(ack.ok, true);
      assert.equal((await firstOnReceiver).text, valid);
      await pollUntil(
        async () => received.length,
        (count) => count === 2,
        { what: 'the valid message on both clients' },
      );
      assert.deepEqual(
        received.map((message) => (message as { text: string }).text),
        [valid, valid],
      );

      assert.equal(replica(1).service.hasExited(), false, 'replica 1 exited');
      assert.ok(sender.connected, 'the sender was disconnected');
      const health = await getHealth(replica(1).url);
      assert.equal(health.status, 200);
      assert.equal(health.body.redis, 'up');
    });

    test('/healthz reports Redis up and counts connected clients', async (t) => {
      const health = await getHealth(replica(1).url);
      assert.equal(health.status, 200);
      assert.equal(health.body.instance, '1');
      assert.equal(health.body.redis, 'up');

      // Clients of earlier tests may still be closing: wait for the count to settle on the truth.
      const countIs = (expected: number) =>
        pollUntil(
          () => getHealth(replica(1).url),
          (h) => h.body.connections === expected,
          { what: `connections: ${expected}`, timeoutMs: EVENT_TIMEOUT_MS },
        );
      await countIs(0);
      const socket = await client(t, 1);
      await countIs(1);
      const other = await connectChatClient(replica(2).url); // another replica's client is not counted here
      t.after(() => other.socket.close());
      await countIs(1);
      socket.close();
      await countIs(0);
    });

    test('a Redis outage shows in /healthz, and after Redis returns messages cross replicas again', async (t) => {
      const [onOne, onTwo] = await Promise.all([client(t, 1), client(t, 2)]);

      await redis?.stop();
      try {
        const down = (h: Health) => h.status === 503 && h.body.redis === 'down';
        for (const number of [1, 2]) {
          await pollUntil(() => getHealth(replica(number).url), down, { what: `replica ${number} reporting 503 redis down` });
        }
        // `typing` is broadcast through the adapter at once, so its publish fails while Redis is
        // down. The refused message after it is answered once that failure has happened.
        onOne.emit('typing');
        const refused = await sendMessage(onOne, 'after typing in the dark');
        assert.equal(refused !== 'no answer' && refused.ok, false, `during the outage: ${JSON.stringify(refused)}`);
        assert.equal((await getHealth(replica(1).url)).status, 503);
        assert.equal(replica(1).service.hasExited(), false, 'replica 1 died with Redis');
        assert.equal(replica(2).service.hasExited(), false, 'replica 2 died with Redis');
      } finally {
        // Even when the assertions above fail, so that the tests after this one have their Redis.
        redis = await startRedis({ port: redisPort, dir, name: 'redis-restarted' });
      }
      const up = (h: Health) => h.status === 200 && h.body.redis === 'up';
      for (const number of [1, 2]) {
        await pollUntil(() => getHealth(replica(number).url), up, { what: `replica ${number} reporting redis up again` });
      }

      // The clients connected before the outage are still there, and replica 1's subscriber
      // subscribed again: a message from replica 2 reaches replica 1's client.
      assert.ok(onOne.connected && onTwo.connected, 'a client lost its connection during the outage');
      const text = `after the outage ${randomUUID()}`;
      const arrived = nextChatMessage(onOne, 'a message from replica 2 on replica 1 after Redis came back');
      const ack = await onTwo.timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', text);
      assert.equal(ack.ok, true);
      const message = await arrived;
      assert.equal(message.text, text);
      assert.equal(message.instance, '2');
    });

    test('a replica started before Redis keeps trying, and serves once Redis is up', async (t) => {
      const latePort = await freePort();
      const port = await freePort();
      const late = spawnReplica({ number: 4, port, redisUrl: `redis://127.0.0.1:${latePort}`, dir, env: { REDIS_ADAPTER: adapter } });
      let lateRedis: ChildService | undefined;
      t.after(async () => {
        await late.stop();
        await lateRedis?.stop();
      });

      // Its log shows a refused connection: it has tried, failed, and must still be running.
      await pollUntil(
        async () => readFileSync(late.logFile, 'utf8'),
        (log) => log.includes('ECONNREFUSED'),
        { what: 'a logged Redis connection failure' },
      );
      assert.equal(late.hasExited(), false, 'the replica gave up when Redis was not there');
      // Not listening yet: it accepts no client whose messages it could not broadcast.
      await assert.rejects(getHealth(`http://127.0.0.1:${port}`), /ECONNREFUSED/);

      lateRedis = await startRedis({ port: latePort, dir, name: 'redis-late' });
      const health = await pollUntil(
        () => getHealth(`http://127.0.0.1:${port}`),
        (h) => h.status === 200,
        { what: 'the replica to serve' },
      );
      assert.deepEqual(health.body, { instance: '4', redis: 'up', connections: 0, draining: false });
    });

    test('SIGTERM: the replica disconnects its clients and exits 0 within 5 s', async (t) => {
      const { service, url } = await addReplica(3);
      const { socket } = await connectChatClient(url);
      t.after(() => socket.close());
      const disconnected = withTimeout(new Promise<string>((resolve) => socket.once('disconnect', resolve)), 5000, 'the client seeing a disconnect');

      const signalledAt = Date.now();
      process.kill(service.pid, 'SIGTERM');
      const [code] = await Promise.all([withTimeout(service.exited, 5000, 'replica 3 to exit after SIGTERM'), disconnected]);
      assert.equal(code, 0, `exit code after SIGTERM (in ${Date.now() - signalledAt} ms)`);
    });
  });
