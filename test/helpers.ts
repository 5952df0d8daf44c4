/**
 * Shared by the Node test files: real child processes (redis-server, replicas), Socket.IO clients,
 * HTTP requests from chosen source addresses, and waiting on conditions with a deadline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { PROJECT_ROOT } from '../lab/cluster/topology.js';
import type { ChildService } from '../lab/cluster/child-process.js';
import { startReplica } from '../lab/cluster/cluster.js';
import { CatchUp } from '../client/catch-up.js';
import { Outbox } from '../client/outbox.js';
import { Timeline } from '../client/timeline.js';
import {
  DEFAULT_ROOM,
  type ChatMessage,
  type ClientToServerEvents,
  type ClusterStatus,
  type Presence,
  type SendResult,
  type ServerToClientEvents,
} from '../shared/events.js';

// The launcher's own process helpers: the tests start Redis and replicas exactly as it does.
// WITHOUT_RATE_LIMIT is for replicas in tests of other things than the rate limit: they send
// faster than a person types.
export { envWithoutChatConfig, isPortFree, REPLICA_ENTRY, spawnReplica, startRedis, startReplica, WITHOUT_RATE_LIMIT } from '../lab/cluster/cluster.js';
export { PROJECT_ROOT } from '../lab/cluster/topology.js';
import { withTimeout } from '../shared/with-timeout.js';
export { withTimeout };

/** How long a test waits for something that normally takes milliseconds. */
export const EVENT_TIMEOUT_MS = 5000;

/** A fresh folder under the OS temp dir, for logs and config files; callers remove it. */
export function makeTempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `chat-test-${label}-`));
}

/** A port nothing listens on right now, chosen by the OS. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Calls `probe` until `accept` says yes, and returns that value. On timeout the error shows the
 * last value (or error) seen, which is what one needs to debug it.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  options: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown = 'nothing yet';
  for (;;) {
    try {
      const value = await probe();
      if (accept(value)) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what}; last seen: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

interface HttpResult {
  status: number;
  contentType: string;
  body: string;
}

/**
 * GET over a new connection each time. `localAddress` picks the source address (any 127.x.y.z
 * works on Linux), which is what nginx's ip_hash keys on.
 */
export async function httpGetText(url: string, options: { localAddress?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { localAddress: options.localAddress, agent: false, timeout: EVENT_TIMEOUT_MS }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within ${EVENT_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/** What GET /healthz answers, status included. */
export interface Health {
  status: number;
  body: { instance?: unknown; redis?: unknown; connections?: unknown; draining?: unknown };
}

export async function getHealth(baseUrl: string, options: { localAddress?: string } = {}): Promise<Health> {
  const response = await httpGetText(`${baseUrl}/healthz`, options);
  return { status: response.status, body: JSON.parse(response.body) as Health['body'] };
}

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** What a hostile or buggy client can do: emit anything, typed or not. */
export function untyped(socket: ChatSocket): Socket {
  return socket as unknown as Socket;
}

/**
 * A Socket.IO client connected to `url`, resolved once the server has welcomed it. Reconnection
 * is off so a dropped connection shows up in the test instead of being papered over.
 */
export async function connectChatClient(url: string): Promise<{ socket: ChatSocket; welcome: { instance: string; name: string } }> {
  const socket: ChatSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  const welcomed = new Promise<{ instance: string; name: string }>((resolve, reject) => {
    socket.once('welcome', resolve);
    socket.once('connect_error', reject);
  });
  try {
    return { socket, welcome: await withTimeout(welcomed, EVENT_TIMEOUT_MS, `a welcome from ${url}`) };
  } catch (err) {
    socket.close();
    throw err;
  }
}

/**
 * An idle client through `brokenUrl` (a front whose idle timeout is `timeoutS`) is cut with
 * "transport close", and one through `realUrl` is still connected after the same span. Proving an
 * absence takes time: the real one is watched for as long as the broken one needed.
 */
export async function assertOnlyBrokenFrontCutsIdleClients(options: { realUrl: string; brokenUrl: string; timeoutS: number; front: string }): Promise<void> {
  const [idleThroughReal, idleThroughBroken] = await Promise.all([connectChatClient(options.realUrl), connectChatClient(options.brokenUrl)]);
  try {
    const dropped = await withTimeout(
      new Promise<string>((resolve) => idleThroughBroken.socket.once('disconnect', resolve)),
      options.timeoutS * 1000 + EVENT_TIMEOUT_MS,
      `${options.front} to cut the idle client`,
    );
    assert.equal(dropped, 'transport close');
    await delay(options.timeoutS * 1000);
    assert.equal(idleThroughReal.socket.connected, true, 'the real config keeps an idle client');
  } finally {
    idleThroughReal.socket.close();
    idleThroughBroken.socket.close();
  }
}

/**
 * A client that keeps its messages as the page does: live ones and caught-up ones merged by id
 * into a Timeline (client/timeline.ts), its gaps found and filled by the page's CatchUp
 * (client/catch-up.ts). It also counts how often each message arrived live, which the merge would
 * hide, and how often it was told that messages are missing.
 */
export class ListeningClient {
  readonly timeline = new Timeline();
  readonly liveCopies = new Map<string, number>();
  /** Catch-up answers that said some messages are no longer in the log. */
  missingReports = 0;
  readonly catchUp: CatchUp;
  /** Each replica that welcomed it, in order: more than one after a failover. */
  readonly welcomes: string[] = [];
  /** The name the server gave it. */
  name = '';
  presence: (Presence & ClusterStatus) | undefined;
  /** The live replicas, as the last `presence` listed them. */
  get cluster(): ClusterStatus | undefined {
    return this.presence;
  }
  /** Join, leave and typing events, with the time each arrived. */
  readonly events: { event: 'joined' | 'left' | 'typing'; name: string; at: number }[] = [];
  /** The rooms the server put it in, as its last `welcome` said. */
  rooms: string[] = [];
  /** The last `here` of its room (of DEFAULT_ROOM, the last `presence`: everyone online is in it). */
  here: Presence | undefined;
  /** Messages and positions of rooms it is not in (it is in DEFAULT_ROOM too): there must never be any. */
  readonly strays: unknown[] = [];
  /** The cluster-wide room list, as last sent (in `welcome`, then in `rooms`). */
  roomList: string[] | undefined;

  /** It follows `room`'s conversation (the default one unless said otherwise). */
  private constructor(
    readonly socket: ChatSocket,
    readonly room: string,
  ) {
    this.catchUp = new CatchUp({
      request: (afterId) => socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', { room, afterId }),
      caughtUp: (messages) => this.timeline.merge(messages),
      missing: () => (this.missingReports += 1),
    });
    socket.on('welcome', ({ instance, name, rooms, allRooms }) => {
      this.welcomes.push(instance);
      this.name = name;
      this.rooms = rooms;
      this.roomList = allRooms;
      this.catchUp.connected();
    });
    socket.on('disconnect', () => this.catchUp.disconnected());
    const isStray = (event: { room: string }) => !this.rooms.includes(event.room);
    socket.on('position', (position) => {
      if (position.room === room) this.catchUp.position(position.id);
      else if (isStray(position)) this.strays.push(position);
    });
    socket.on('rooms', (rooms) => (this.roomList = rooms));
    socket.on('here', ({ room: hereRoom, ...here }) => {
      if (hereRoom === room) this.here = here;
    });
    socket.on('presence', (presence) => {
      this.presence = presence;
      // Everyone online is in DEFAULT_ROOM: the server sends no `here` for it.
      if (room === DEFAULT_ROOM) this.here = presence;
    });
    for (const event of ['joined', 'left', 'typing'] as const) {
      socket.on(event, ({ name }: { name: string }) => this.events.push({ event, name, at: Date.now() }));
    }
    socket.on('chat message', (message) => {
      if (message.room !== room) return void (isStray(message) && this.strays.push(message));
      this.liveCopies.set(message.id, (this.liveCopies.get(message.id) ?? 0) + 1);
      this.timeline.merge([message]);
      this.catchUp.live(message);
    });
  }

  /**
   * Connected, welcomed, and caught up on the recent conversation. `reconnection` is off unless asked for, so that a dropped connection
   * shows up in the test; `localAddress` picks the source address nginx's ip_hash sees. WebSocket
   * only, unless `transports` says otherwise (browsers start with long-polling). `extraHeaders` go
   * with every request, reconnects included (a cookie a browser would keep, for example).
   */
  static async connect(
    url: string,
    options: {
      name?: string;
      room?: string;
      localAddress?: string;
      reconnection?: boolean;
      transports?: ('polling' | 'websocket')[];
      extraHeaders?: Record<string, string>;
    } = {},
  ): Promise<ListeningClient> {
    const socket: ChatSocket = io(url, {
      transports: options.transports ?? ['websocket'],
      reconnection: options.reconnection ?? false,
      reconnectionDelayMax: 1000,
      forceNew: true,
      extraHeaders: options.extraHeaders,
      // Both transports open their connections through this agent, so both come from localAddress.
      agent: options.localAddress ? new Agent({ localAddress: options.localAddress, keepAlive: true }) : undefined,
      // In its room from the start, and again after every reconnection.
      auth: { name: options.name, rooms: options.room ? [options.room] : [] },
      // `agent` reaches Node's http and `ws`, but socket.io-client's option types say string | boolean.
    } as Parameters<typeof io>[1]);
    const client = new ListeningClient(socket, options.room ?? DEFAULT_ROOM);
    const refused = new Promise<never>((_resolve, reject) => socket.once('connect_error', reject));
    const caughtUp = pollUntil(
      async () => client.catchUp.heldThrough,
      (heldThrough) => heldThrough !== null,
      {
        what: `a welcome and the first catch-up from ${url}`,
        timeoutMs: EVENT_TIMEOUT_MS,
        intervalMs: 20,
      },
    );
    try {
      await Promise.race([caughtUp, refused]);
      return client;
    } catch (err) {
      socket.close();
      throw err;
    } finally {
      // Whichever lost the race must not end as an unhandled rejection.
      caughtUp.catch(() => {});
      refused.catch(() => {});
    }
  }

  /** Sends `text` in its room: the server's answer, or 'no answer'. */
  send(text: string, key: string = randomUUID()): Promise<SendResult | 'no answer'> {
    return this.socket
      .timeout(EVENT_TIMEOUT_MS)
      .emitWithAck('chat message', { text, room: this.room, key })
      .catch(() => 'no answer' as const);
  }

  /** `event`s about `name` received so far. */
  eventsAbout(event: 'joined' | 'left' | 'typing', name: string): { at: number }[] {
    return this.events.filter((entry) => entry.event === event && entry.name === name);
  }

  ids(): string[] {
    return this.timeline.messages.map((message) => message.id);
  }

  /** Waits until the timeline holds every one of `ids`. */
  async waitForIds(ids: readonly string[], what: string, timeoutMs = 10_000): Promise<void> {
    await pollUntil(
      async () => ids.filter((id) => !this.timeline.messages.some((message) => message.id === id)),
      (missing) => missing.length === 0,
      { what, timeoutMs },
    );
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Replicas numbered `numbers`, started at once, each on a free port, with `env`; `client` connects a
 * ListeningClient to one of them that closes when the test ends.
 */
export async function startTestReplicas(options: { numbers: number[]; dir: string; redisUrl?: string; env: NodeJS.ProcessEnv }) {
  const urls = new Map<number, string>();
  const services: ChildService[] = [];
  const stop = async () => {
    await Promise.all(services.map((service) => service.stop()));
  };
  try {
    await Promise.all(
      options.numbers.map(async (number) => {
        const port = await freePort();
        services.push(await startReplica({ number, port, redisUrl: options.redisUrl, dir: options.dir, env: options.env }));
        urls.set(number, `http://127.0.0.1:${port}`);
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const url = (number: number) => {
    const found = urls.get(number);
    assert.ok(found, `replica ${number} was not started`);
    return found;
  };
  return {
    url,
    async client(t: TestContext, number: number, clientOptions: Parameters<typeof ListeningClient.connect>[1] = {}): Promise<ListeningClient> {
      const client = await ListeningClient.connect(url(number), clientOptions);
      t.after(() => client.close());
      return client;
    },
    stop,
  };
}

/** Each text's number of copies in a timeline: 2 would mean one message logged twice. */
export function copiesByText(client: ListeningClient): Map<string, number> {
  const copies = new Map<string, number>();
  for (const { text } of client.timeline.messages) copies.set(text, (copies.get(text) ?? 0) + 1);
  return copies;
}

/**
 * Asserts that `client` received each id in `ids` exactly once, live or in a history. A client
 * that moved between replicas can be sent a message live more than once around the move; the page
 * merges by id, so the user sees it once, and `moved: true` allows exactly that (never a message
 * held twice, or missing).
 */
export function assertExactlyOnce(client: ListeningClient, ids: readonly string[], who: string, options: { moved?: boolean } = {}): void {
  const held = new Set(client.ids());
  assert.deepEqual(
    ids.filter((id) => !held.has(id)),
    [],
    `${who} is missing acknowledged messages`,
  );
  const repeated = [...client.liveCopies].filter(([, copies]) => copies > 1);
  if (!options.moved) assert.deepEqual(repeated, [], `${who} received messages live more than once`);
  const doubled = [...copiesByText(client)].filter(([, copies]) => copies > 1);
  assert.deepEqual(doubled, [], `${who} holds a text twice under two ids: it was logged twice`);
  assert.deepEqual(client.strays, [], `${who} received messages or positions of a room it is not in`);
}

/**
 * The page's outbox (client/outbox.ts) for a test's or the soak's socket: `send(text)` queues the
 * text, and the outbox sends it, in order, under one key, until the server logs it or refuses it
 * for good (resolving with the id or the reason).
 */
export function outboxSender(
  socket: ChatSocket,
  room: string = DEFAULT_ROOM,
): (text: string) => Promise<{ ok: true; id: string } | { ok: false; error: string }> {
  const waiting = new Map<string, (outcome: { ok: true; id: string } | { ok: false; error: string }) => void>();
  const outbox = new Outbox({
    send: (message) => socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('chat message', message),
    canSend: () => socket.connected,
    onChange: (item) => {
      if (item.state === 'failed') waiting.get(item.key)?.({ ok: false, error: item.error ?? 'refused' });
    },
    onAccepted: (item, id) => waiting.get(item.key)?.({ ok: true, id }),
  });
  socket.on('connect', () => outbox.flush());
  // The answer cannot come before `add` returns: sending is asynchronous.
  return (text) => new Promise((resolve) => waiting.set(outbox.add(text, room).key, resolve));
}

/** Sends `{ text, key }` and returns the server's answer, or 'no answer' after `timeoutMs`. */
export async function sendMessage(
  socket: ChatSocket,
  text: string,
  key: string = randomUUID(),
  timeoutMs = EVENT_TIMEOUT_MS,
): Promise<SendResult | 'no answer'> {
  return socket
    .timeout(timeoutMs)
    .emitWithAck('chat message', { text, key })
    .catch(() => 'no answer' as const);
}

/** The next `chat message` this client receives. Start waiting before sending. */
export function nextChatMessage(socket: ChatSocket, what: string): Promise<ChatMessage> {
  return withTimeout(new Promise<ChatMessage>((resolve) => socket.once('chat message', resolve)), EVENT_TIMEOUT_MS, what);
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion, capturing its output; kills it if it runs past `timeoutMs`, with
 * whatever it started (it runs in a process group of its own: the benchmark's replicas, nginx and
 * Redis would otherwise outlive it). Output goes through files, not pipes: nginx opens
 * /dev/stdout, which fails on a pipe's socket.
 */
export async function runToExit(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Finished> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dir = makeTempDir('output');
  const [outPath, errPath] = [join(dir, 'stdout'), join(dir, 'stderr')];
  const [out, err] = [openSync(outPath, 'w'), openSync(errPath, 'w')];
  try {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env: options.env ?? process.env, stdio: ['ignore', out, err], detached: true });
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    }).finally(() => clearTimeout(timer));
    const [stdout, stderr] = [readFileSync(outPath, 'utf8'), readFileSync(errPath, 'utf8')];
    if (signal === 'SIGKILL') throw new Error(`${command} ${args.join(' ')} was still running after ${timeoutMs} ms. Output:\n${stdout}${stderr}`);
    return { code, signal, stdout, stderr };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lines of a stack trace (`    at fn (file:1:2)`), raw or escaped inside a JSON log line. */
export const STACK_FRAME = /(?:^|\n|\\n)\s*at \S/;

/** Resident memory of a process, from the kernel (Linux). */
export function rssBytes(pid: number): number {
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kilobytes, `no VmRSS for pid ${pid}`);
  return Number(kilobytes) * 1024;
}
