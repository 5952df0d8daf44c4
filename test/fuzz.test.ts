/**
 * Fuzzing a replica with what a hostile or broken client can send: random values to every event
 * through socket.io-client, raw Engine.IO and Socket.IO frames over a plain WebSocket, garbage
 * long-polling requests. Meanwhile a person on another replica keeps chatting, and someone on the
 * fuzzed replica keeps reading. The fuzzed replica must stay up, healthy and within a memory bound,
 * log no stack trace, and deliver every one of that person's messages. (Its rate limit is lifted so
 * that the payloads reach the handlers; a third replica, with the default limit, gets a shorter run.)
 *
 * Every payload comes from a seeded generator: the seed is in the suite's name, and FUZZ_SEED=<seed>
 * replays a run.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { ChildService } from '../lab/cluster/child-process.js';
import type { SendResult } from '../shared/events.js';
import {
  connectChatClient,
  EVENT_TIMEOUT_MS,
  freePort,
  getHealth,
  ListeningClient,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  rssBytes,
  sendMessage,
  STACK_FRAME,
  startRedis,
  startReplica,
  untyped,
  withTimeout,
  type ChatSocket,
} from './helpers.js';
import { randomEngineIoFrame, randomEventArgs, randomEventName, randomPollingBody, SeededRandom } from './fixtures/fuzz-payloads.js';

const seed = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));

/** Events emitted through socket.io-client. */
const EMITS = 5000;
/** …and to the replica with the default rate limit: a cheap check of the limiter's side of things. */
const LIMITED_EMITS = 500;
/** Plain WebSocket connections, each sending a few raw frames. */
const RAW_SESSIONS = 1500;
/** Long-polling sessions, each posting a few garbage bodies. */
const POLLING_SESSIONS = 150;
/** Between a fuzz client's checks that the replica still answers it: a pace, and a bound on its backlog. */
const EMITS_PER_ROUND_TRIP = 10;
/** The person on the other replica sends this often. */
const CHAT_INTERVAL_MS = 250;
/** How each of that person's messages starts. */
const PERSON_SAYS = 'the person on replica 2, message';
/**
 * How much the fuzzed replica's resident memory may grow, from connected-and-idle to its peak under
 * fuzz. Measured: 17-21 MB (a fresh process warming up its JIT, its heap growing under thousands of
 * short-lived connections before GC gives anything back). Holding oversized frames costs hundreds
 * of MB, and a handler keeping 40 KB per message it is sent measured +118 MB here. 60 MB is three times what a healthy run needs, and well below either.
 */
const RSS_GROWTH_BOUND_BYTES = 60 * 1024 * 1024;

interface RunningReplica {
  service: ChildService;
  port: number;
  url: string;
}

describe(`fuzzing a replica while a conversation goes on (seed ${seed}; FUZZ_SEED=${seed} replays it)`, { timeout: 90_000 }, () => {
  const random = new SeededRandom(seed);
  let dir: string;
  let redis: ChildService;
  /** Replica 1, fuzzed; replica 2, where the person chats; replica 3, fuzzed a little, with the default rate limit. */
  let fuzzed: RunningReplica;
  let other: RunningReplica;
  let limited: RunningReplica;
  let reader: ListeningClient;
  let person: ListeningClient;
  const sent: (SendResult | 'no answer')[] = [];
  let chatting = true;
  let conversation: Promise<void>;
  let rssBaseline = 0;
  let rssPeak = 0;
  let rssSampler: NodeJS.Timeout;

  async function startChatReplica(number: number, redisUrl: string, env?: NodeJS.ProcessEnv): Promise<RunningReplica> {
    const port = await freePort();
    const service = await startReplica({ number, port, redisUrl, dir, env });
    return { service, port, url: `http://127.0.0.1:${port}` };
  }

  before(async () => {
    dir = makeTempDir('fuzz');
    const redisPort = await freePort();
    redis = await startRedis({ port: redisPort, dir });
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    // No rate limit on 1 and 2: every payload must reach the handlers, and the person sends faster than the default allows.
    [fuzzed, other, limited] = await Promise.all([
      startChatReplica(1, redisUrl, WITHOUT_RATE_LIMIT),
      startChatReplica(2, redisUrl, WITHOUT_RATE_LIMIT),
      startChatReplica(3, redisUrl),
    ]);
    reader = await ListeningClient.connect(fuzzed.url);
    person = await ListeningClient.connect(other.url);

    rssBaseline = rssPeak = rssBytes(fuzzed.service.pid);
    rssSampler = setInterval(() => {
      if (!fuzzed.service.hasExited()) rssPeak = Math.max(rssPeak, rssBytes(fuzzed.service.pid));
    }, 100);
    conversation = (async () => {
      for (let n = 0; chatting; n++) {
        sent.push(await sendMessage(person.socket, `${PERSON_SAYS} ${n}`));
        await delay(CHAT_INTERVAL_MS);
      }
    })();
  });

  after(async () => {
    chatting = false;
    clearInterval(rssSampler);
    await conversation;
    reader?.close();
    person?.close();
    await Promise.all([fuzzed, other, limited].map((replica) => replica?.service.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${EMITS} random values to every event, with and without acknowledgements, over socket.io-client`, async (t) => {
    t.diagnostic(await emitRandomEvents(fuzzed, EMITS));
  });

  test(`${LIMITED_EMITS} more to a replica with the default rate limit, where most stop at the limiter`, async (t) => {
    t.diagnostic(await emitRandomEvents(limited, LIMITED_EMITS));
  });

  test(`${RAW_SESSIONS} plain WebSockets sending raw Engine.IO and Socket.IO frames`, async (t) => {
    let frames = 0;
    for (let n = 0; n < RAW_SESSIONS; n++) frames += await rawWebSocketSession();
    t.diagnostic(`${frames} raw frames over ${RAW_SESSIONS} connections`);
  });

  test(`${POLLING_SESSIONS} long-polling sessions posting garbage`, async (t) => {
    let requests = 0;
    for (let n = 0; n < POLLING_SESSIONS; n++) requests += await pollingSession();
    t.diagnostic(`${requests} long-polling requests`);
  });

  test('afterwards: every replica up and healthy, memory bounded, no stack trace, the conversation intact', async (t) => {
    chatting = false;
    await conversation;
    clearInterval(rssSampler);

    for (const { service, url } of [fuzzed, other, limited]) {
      assert.equal(service.hasExited(), false, `${service.name} exited`);
      assert.equal((await getHealth(url)).status, 200, `${service.name}: ${url}/healthz`);
    }

    const growth = rssPeak - rssBaseline;
    t.diagnostic(`replica 1 RSS: ${mb(rssBaseline)} MB before, ${mb(rssPeak)} MB at peak (+${mb(growth)} MB)`);
    assert.ok(growth < RSS_GROWTH_BOUND_BYTES, `replica 1 grew by ${mb(growth)} MB, more than ${mb(RSS_GROWTH_BOUND_BYTES)} MB`);

    for (const { service } of [fuzzed, limited]) {
      const log = readFileSync(service.logFile, 'utf8');
      assert.doesNotMatch(log, STACK_FRAME, `${service.name} logged a stack trace (${service.logFile})`);
      assert.doesNotMatch(log, /uncaught|unhandled/i, `${service.name} logged an uncaught exception`);
    }

    // Each of the person's messages acknowledged, and received by them and by the reader on replica 1.
    const refused = sent.filter((result) => result === 'no answer' || !result.ok);
    assert.deepEqual(refused, [], 'messages of the person on replica 2 were not acknowledged');
    const ids = sent.map((result) => (result !== 'no answer' && result.ok ? result.id : ''));
    t.diagnostic(`the person on replica 2 sent ${ids.length} messages during the fuzzing`);
    // Exactly once, counted among the person's messages only: fuzz payloads that pass validation
    // are real messages too, and may repeat a text.
    for (const [client, who] of [
      [person, 'the person on replica 2'],
      [reader, 'the reader on replica 1'],
    ] as const) {
      await client.waitForIds(ids, `${who}: every message of the person`);
      assert.deepEqual(
        ids.filter((id) => client.liveCopies.get(id) !== 1),
        [],
        `${who} did not receive each message of the person live exactly once`,
      );
      const texts = client.timeline.messages.filter(({ text }) => text.startsWith(PERSON_SAYS)).map(({ text }) => text);
      assert.equal(new Set(texts).size, texts.length, `${who} holds a message of the person twice under two ids: it was logged twice`);
    }
  });

  /** Emits `count` random events to `target` over socket.io-client; says what came of them. */
  async function emitRandomEvents(target: RunningReplica, count: number): Promise<string> {
    let socket = (await connectChatClient(target.url)).socket;
    let reconnections = 0;
    let answered = 0;
    try {
      for (let n = 1; n <= count; n++) {
        // Frames over the size limit close the connection, as they should: carry on with a new one.
        if (!socket.connected) {
          socket.close();
          socket = (await connectChatClient(target.url)).socket;
          reconnections += 1;
        }
        const event = randomEventName(random);
        const args = randomEventArgs(random, event);
        // Binary arguments travel as attachments; the larger ones exceed the frame limit.
        if (random.chance(0.03)) args.push(new Uint8Array(random.below(10_000)));
        if (random.chance(0.5)) args.push(() => (answered += 1)); // an acknowledgement: 'chat message' and the limiter answer
        untyped(socket).emit(event, ...args);
        if (n % EMITS_PER_ROUND_TRIP === 0) await roundTrip(socket);
      }
    } finally {
      socket.close();
    }
    return `${count} events emitted, ${answered} acknowledgements answered; ${reconnections} connections closed over oversized frames`;
  }

  /**
   * Sends a message the server refuses, and waits for its answer: the replica is still serving this
   * connection, and what was emitted before has been handled. A connection the replica closes
   * meanwhile (an oversized frame) ends the wait too.
   */
  async function roundTrip(socket: ChatSocket): Promise<void> {
    if (!socket.connected) return;
    const answered = new Promise<void>((resolve) => {
      const done = () => {
        socket.off('disconnect', done);
        resolve();
      };
      socket.once('disconnect', done);
      untyped(socket).emit('chat message', 42, done);
    });
    await withTimeout(answered, EVENT_TIMEOUT_MS, 'replica 1 to answer a fuzz client');
  }

  /**
   * One plain WebSocket: the Engine.IO handshake, usually the Socket.IO connect (`40`), then one to
   * five random frames, then a close. Waiting for the close handshake paces the fuzzing: the
   * replica answers it only after handling every frame before it. Returns the frames sent.
   */
  async function rawWebSocketSession(): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${fuzzed.port}/socket.io/?EIO=4&transport=websocket`);
    ws.on('error', () => {}); // a connection the replica drops is expected, and shows as 'close'
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    try {
      const open = await withTimeout(nextFrame(ws), EVENT_TIMEOUT_MS, 'the Engine.IO open packet');
      assert.match(open ?? '', /^0\{/, `replica 1 did not open an Engine.IO session: ${open}`);
      if (random.chance(0.8)) {
        ws.send('40');
        const connected = await withTimeout(nextFrame(ws), EVENT_TIMEOUT_MS, 'the Socket.IO connect');
        assert.match(connected ?? '', /^40\{/, `replica 1 did not connect the namespace: ${connected}`);
      }
      const count = 1 + random.below(5);
      for (let n = 0; n < count; n++) {
        const frame = randomEngineIoFrame(random);
        if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: typeof frame !== 'string' });
      }
      ws.close();
      await withTimeout(closed, EVENT_TIMEOUT_MS, 'replica 1 to close a raw WebSocket');
      return count;
    } finally {
      ws.terminate();
    }
  }

  /**
   * One long-polling session: the handshake, then garbage bodies posted to it, one with no session,
   * one to a session that does not exist, and finally the Engine.IO close packet so the session does
   * not linger until its heartbeat times out. Returns the requests made.
   */
  async function pollingSession(): Promise<number> {
    const base = `http://127.0.0.1:${fuzzed.port}/socket.io/?EIO=4&transport=polling`;
    const handshake = await withTimeout(
      fetch(base).then((response) => response.text()),
      EVENT_TIMEOUT_MS,
      'a polling handshake',
    );
    const { sid } = JSON.parse(handshake.slice(1)) as { sid: string };
    const posts: [url: string, body: string][] = [
      ...Array.from({ length: 1 + random.below(3) }, (): [string, string] => [`${base}&sid=${sid}`, randomPollingBody(random)]),
      [base, randomPollingBody(random)],
      [`${base}&sid=nope`, randomPollingBody(random)],
      [`${base}&sid=${sid}`, '1'],
    ];
    for (const [url, body] of posts) {
      const response = await withTimeout(
        fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } }),
        EVENT_TIMEOUT_MS,
        'a polling POST',
      );
      await response.arrayBuffer();
    }
    return posts.length + 1;
  }
});

/** The next text frame (binary frames as base64), or undefined once the connection has closed. */
function nextFrame(ws: WebSocket): Promise<string | undefined> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer, isBinary: boolean) => finish(isBinary ? data.toString('base64') : data.toString('utf8'));
    const onClose = () => finish(undefined);
    function finish(frame: string | undefined): void {
      ws.off('message', onMessage);
      ws.off('close', onClose);
      resolve(frame);
    }
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
