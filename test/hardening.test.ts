/**
 * The limits that keep one client from hurting the others, each tested by doing what it stops:
 * a flood, oversized frames, a cross-site handshake, a client that stops reading, a Redis without
 * its password. Real replicas, real redis-server, real sockets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { ChildService } from '../lab/cluster/child-process.js';
import { MAX_FRAME_BYTES } from '../server/server.js';
import { MAX_QUEUED_PACKETS } from '../server/guards/slow-readers.js';
import { MAX_MESSAGE_LENGTH } from '../shared/text.js';
import {
  connectChatClient,
  envWithoutChatConfig,
  EVENT_TIMEOUT_MS,
  freePort,
  getHealth,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  REPLICA_ENTRY,
  rssBytes,
  runToExit,
  sendMessage,
  startRedis,
  startReplica,
  untyped,
  withTimeout,
  type ChatSocket,
} from './helpers.js';

/** Resolves with the reason once `socket` is disconnected. */
function disconnection(socket: ChatSocket): Promise<string> {
  return new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
}

/** What a replica answers to a handshake that carries `origin`: over long-polling and as a WebSocket upgrade. */
async function handshakeStatus(port: number, transport: 'polling' | 'websocket', origin: string): Promise<number> {
  const headers: Record<string, string> = { origin };
  if (transport === 'websocket') {
    Object.assign(headers, {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': randomBytes(16).toString('base64'),
    });
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/socket.io/?EIO=4&transport=${transport}`, headers, agent: false });
    req.once('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.once('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}

describe('limits on one replica', { timeout: 120_000 }, () => {
  let dir: string;
  /** Defaults, as `npm start` runs it: the rate limit is on. */
  let limited: { service: ChildService; port: number; url: string };
  /** With ALLOWED_ORIGINS. */
  let configured: { service: ChildService; port: number; url: string };
  /** Without the rate limit, for a fast sender; none of the other tests connect to it. */
  let fast: { service: ChildService; port: number; url: string };
  const FOREIGN_ORIGIN = 'https://elsewhere.example';

  before(async () => {
    dir = makeTempDir('hardening');
    const start = async (number: number, env: NodeJS.ProcessEnv) => {
      const port = await freePort();
      return { service: await startReplica({ number, port, dir, env }), port, url: `http://127.0.0.1:${port}` };
    };
    limited = await start(1, {});
    configured = await start(2, { ALLOWED_ORIGINS: FOREIGN_ORIGIN });
    fast = await start(3, WITHOUT_RATE_LIMIT);
  });

  after(async () => {
    await limited?.service.stop();
    await configured?.service.stop();
    await fast?.service.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a flood is refused with "slow down"; a bystander on the same replica is not limited', async (t) => {
    const flooder = await connectChatClient(limited.url);
    const bystander = await connectChatClient(limited.url);
    t.after(() => {
      for (const { socket } of [flooder, bystander]) socket.close();
    });

    const floodResults = Promise.all(Array.from({ length: 1000 }, (_, n) => sendMessage(flooder.socket, `flood ${n}`, undefined, 15_000)));
    // Sent while the flood is being answered: a limit shared by the replica would refuse these too.
    const duringFlood = await Promise.all(Array.from({ length: 8 }, (_, n) => sendMessage(bystander.socket, `during the flood ${n}`)));
    const results = await floodResults;

    const refused = results.filter((result) => result !== 'no answer' && !result.ok && result.error === 'slow down').length;
    const accepted = results.filter((result) => result !== 'no answer' && result.ok).length;
    assert.equal(refused + accepted, 1000, 'every message of the flood gets an answer');
    // The burst, plus what refills while the flood lasts (well under 2 s).
    assert.ok(accepted <= 10 + 2 * 2, `${accepted} of the flood's 1000 messages were accepted`);
    assert.deepEqual(
      duringFlood.map((result) => result !== 'no answer' && result.ok),
      duringFlood.map(() => true),
      `the bystander's answers: ${JSON.stringify(duringFlood)}`,
    );
  });

  test('typing counts against the same limit', async (t) => {
    const { socket } = await connectChatClient(limited.url);
    t.after(() => socket.close());
    for (let n = 0; n < 50; n++) socket.emit('typing');
    const result = await sendMessage(socket, 'after typing a lot');
    assert.deepEqual(result, { ok: false, error: 'slow down', retryable: true });
  });

  test('catch-ups have a limit of their own: a flood of them is refused, and sending is not', async (t) => {
    const { socket } = await connectChatClient(limited.url);
    t.after(() => socket.close());
    const answers = await Promise.all(Array.from({ length: 50 }, () => socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', null)));
    assert.ok(
      answers.some((answer) => !answer.ok && answer.error === 'slow down'),
      'fifty catch-ups at once were all answered',
    );
    const result = await sendMessage(socket, 'after catching up a lot');
    assert.ok(result !== 'no answer' && result.ok, `the message after the catch-ups: ${JSON.stringify(result)}`);
  });

  for (const transport of ['websocket', 'polling'] as const) {
    test(`an oversized frame over ${transport} closes that connection only, without holding memory`, async (t) => {
      const bystander = await connectChatClient(limited.url);
      t.after(() => bystander.socket.close());
      // Twenty clients, three frames each of nested arrays just under Socket.IO's default limit of
      // 1 MB. Parsed, each would take many times its size.
      const nested = JSON.parse(`[${'[1],'.repeat(220_000)}[1]]`) as unknown;
      const attack = async () => {
        const attackers = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const socket: ChatSocket = io(limited.url, { transports: [transport], reconnection: false, forceNew: true });
            t.after(() => socket.close());
            await withTimeout(new Promise((resolve) => socket.once('connect', () => resolve(undefined))), EVENT_TIMEOUT_MS, 'an attacker connecting');
            return socket;
          }),
        );
        const reasons = await withTimeout(
          Promise.all(
            attackers.map((socket) => {
              const closed = disconnection(socket);
              for (let n = 0; n < 3; n++) untyped(socket).emit('chat message', { text: nested });
              return closed;
            }),
          ),
          15_000,
          'the replica closing the attackers',
        );
        assert.deepEqual(new Set(reasons), new Set([transport === 'websocket' ? 'transport close' : 'transport error']));
      };

      const megabytes = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      const atStart = rssBytes(limited.service.pid);
      await attack();
      const afterFirst = rssBytes(limited.service.pid);
      await attack();
      const afterSecond = rssBytes(limited.service.pid);
      // The refused frames still arrive, and pass through read buffers on their way to the bin: the
      // allocator keeps those pages (about 40 MB here; parsing them took hundreds).
      // The bounds leave room for another machine's allocator and still catch parsing.
      assert.ok(afterFirst - atStart < 128 * 1024 * 1024, `the first attack grew the replica by ${megabytes(afterFirst - atStart)} MB`);
      // But nothing is held: a second attack reuses them (0 to 8 MB more here).
      assert.ok(afterSecond - afterFirst < 32 * 1024 * 1024, `the second attack grew the replica by ${megabytes(afterSecond - afterFirst)} MB more`);
      const answer = await sendMessage(bystander.socket, 'still here');
      assert.equal(answer !== 'no answer' && answer.ok, true, 'the bystander keeps chatting');
      assert.equal((await getHealth(limited.url)).status, 200);
    });
  }

  test('the longest message fits in a frame', async (t) => {
    const { socket } = await connectChatClient(limited.url);
    t.after(() => socket.close());
    // Four-byte characters: the worst case for the frame's size in bytes.
    const longest = '😀'.repeat(MAX_MESSAGE_LENGTH);
    assert.ok(Buffer.byteLength(JSON.stringify(longest)) < MAX_FRAME_BYTES);
    const result = await sendMessage(socket, longest);
    assert.equal(result !== 'no answer' && result.ok, true);
  });

  for (const transport of ['websocket', 'polling'] as const) {
    // Engine.IO refuses a polling handshake with 403, and a WebSocket upgrade with 400.
    const refused = transport === 'websocket' ? 400 : 403;
    test(`a handshake from a foreign Origin is refused over ${transport}; the page's own origin is let in`, async () => {
      assert.equal(await handshakeStatus(limited.port, transport, FOREIGN_ORIGIN), refused, 'foreign origin');
      assert.equal(await handshakeStatus(limited.port, transport, 'null'), refused, 'opaque origin');
      const own = `http://127.0.0.1:${limited.port}`;
      assert.equal(await handshakeStatus(limited.port, transport, own), transport === 'websocket' ? 101 : 200, 'own origin');
      // With ALLOWED_ORIGINS, exactly those: even the replica's own address is foreign to it.
      assert.equal(await handshakeStatus(configured.port, transport, FOREIGN_ORIGIN), transport === 'websocket' ? 101 : 200, 'configured origin');
      assert.equal(await handshakeStatus(configured.port, transport, `http://127.0.0.1:${configured.port}`), refused, 'unlisted origin');
    });
  }

  test('a client without an Origin header (a script) connects and chats', async (t) => {
    const { socket } = await connectChatClient(limited.url); // Node's client sends no Origin
    t.after(() => socket.close());
    const result = await sendMessage(socket, 'from a script');
    assert.equal(result !== 'no answer' && result.ok, true);
  });

  test('a client that stops reading is disconnected; the others are not', async (t) => {
    const sender = await connectChatClient(fast.url);
    const reader = await connectChatClient(fast.url);
    t.after(() => {
      for (const { socket } of [sender, reader]) socket.close();
    });

    // A raw WebSocket that joins the chat, then stops reading: the kernel's buffers fill, and
    // from then on every broadcast waits in the replica's memory.
    const stalled = new WebSocket(`ws://127.0.0.1:${fast.port}/socket.io/?EIO=4&transport=websocket`);
    t.after(() => stalled.terminate());
    await withTimeout(
      new Promise<void>((resolve) => {
        stalled.on('message', (data) => {
          const packet = String(data);
          if (packet.startsWith('0{')) stalled.send('40'); // Engine.IO open → join the main namespace
          if (packet.startsWith('40')) resolve();
        });
      }),
      EVENT_TIMEOUT_MS,
      'the raw client joining',
    );
    stalled.pause();
    const connections = async () => (await getHealth(fast.url)).body.connections as number;
    assert.equal(await connections(), 3);

    // A steady conversation of the longest messages, until the stalled client is gone.
    const text = 'x'.repeat(MAX_MESSAGE_LENGTH);
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while ((await connections()) === 3) {
      assert.ok(Date.now() < deadline, `the stalled client is still connected after ${sent} messages`);
      const results = await Promise.all(Array.from({ length: 50 }, () => sendMessage(sender.socket, text)));
      assert.equal(results.filter((result) => result !== 'no answer' && result.ok).length, 50);
      sent += 50;
    }
    // It had to fall behind by the bound first: at least that many messages went out.
    assert.ok(sent >= MAX_QUEUED_PACKETS, `dropped after only ${sent} messages`);
    assert.equal(await connections(), 2);
    assert.equal(reader.socket.connected, true, 'a client that reads stays connected');
  });
});

describe('Redis asks for a password', { timeout: 60_000 }, () => {
  let dir: string;
  let redisPort: number;
  let redis: ChildService;
  const password = randomBytes(12).toString('base64url');

  before(async () => {
    dir = makeTempDir('redis-auth');
    redisPort = await freePort();
    redis = await startRedis({ port: redisPort, dir, password });
  });

  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, url] of [
    ['no password', () => `redis://127.0.0.1:${redisPort}`],
    ['a wrong password', () => `redis://:wrong-${password}@127.0.0.1:${redisPort}`],
  ] as const) {
    test(`a replica with ${label} says so in one line and exits 1, printing no password`, async () => {
      const port = await freePort();
      const finished = await runToExit(process.execPath, [REPLICA_ENTRY], {
        env: { ...envWithoutChatConfig(), PORT: String(port), NODE_NUMBER: '1', REDIS_URL: url() },
        timeoutMs: 15_000,
      });
      assert.equal(finished.code, 1);
      const output = finished.stdout + finished.stderr;
      assert.match(output, /Redis refused the credentials in REDIS_URL/);
      assert.ok(!output.includes(password), 'the password is not printed');
    });
  }

  test("a stranger cannot publish into the adapter's channels", async () => {
    // What anything on the network could try: a forged broadcast, in Redis's plain-text protocol.
    const socket = connect(redisPort, '127.0.0.1');
    socket.end('PUBLISH socket.io#/# forged\r\n');
    const [answer] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    assert.match(String(answer), /^-NOAUTH /);
  });

  test('with the password, the replica starts and is healthy', async () => {
    const port = await freePort();
    const replica = await startReplica({ number: 1, port, dir, redisUrl: `redis://:${password}@127.0.0.1:${redisPort}` });
    try {
      assert.equal((await getHealth(`http://127.0.0.1:${port}`)).body.redis, 'up');
    } finally {
      await replica.stop();
    }
  });
});
