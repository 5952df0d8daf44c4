/**
 * A load generator for `npm run bench`, run as a child process (IPC): it connects many Socket.IO
 * clients from the addresses it is given, sends messages at the rate it is told from random ones
 * among them, and counts what its clients receive. The measuring process never carries this load.
 */
import { io, type Socket } from 'socket.io-client';
import type { ChatMessage, ClientToServerEvents, ServerToClientEvents } from '../../shared/events.js';
import { benchText, parseBenchText, preciseNow, type WorkerCommand, type WorkerReport } from './protocol.js';

type Client = Socket<ServerToClientEvents, ClientToServerEvents> & { seen?: Set<string> };

const workerId = Number(process.env.BENCH_WORKER_ID ?? 0);
/** Connections opened at once; more would only queue in the kernel. */
const CONNECT_CONCURRENCY = 200;

const clients: Client[] = [];
let failed = 0;
let connectMs = 0;
let seq = 0;
let acknowledged: string[] = [];
let receivedBy: Record<string, number> = {};
let duplicates = 0;
let disconnects: string[] = [];
let cpuAtStart = process.cpuUsage();
let wallAtStart = performance.now();

function resetCounts(): void {
  acknowledged = [];
  receivedBy = {};
  duplicates = 0;
  disconnects = [];
  for (const client of clients) client.seen = new Set();
  cpuAtStart = process.cpuUsage();
  wallAtStart = performance.now();
}

function connectOne(url: string, localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    const client: Client = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 20_000,
      localAddress,
    } as Parameters<typeof io>[1]);
    client.once('welcome', () => {
      clients.push(client);
      client.once('disconnect', (reason) => disconnects.push(reason));
      resolve();
    });
    client.once('connect_error', () => {
      failed += 1;
      client.close();
      resolve();
    });
    client.on('chat message', (message: ChatMessage) => {
      const parsed = parseBenchText(message.text);
      if (!parsed) return;
      if (client.seen?.has(parsed.id)) duplicates += 1;
      else {
        client.seen?.add(parsed.id);
        receivedBy[parsed.id] = (receivedBy[parsed.id] ?? 0) + 1;
      }
    });
  });
}

async function connect(url: string, addresses: string[], count: number): Promise<void> {
  const startedAt = performance.now();
  for (let start = 0; start < count; start += CONNECT_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, count - start) }, (_, n) => connectOne(url, addresses[(start + n) % addresses.length]!));
    await Promise.all(batch);
  }
  connectMs = performance.now() - startedAt;
}

async function send(messagesPerSecond: number, durationMs: number): Promise<void> {
  if (messagesPerSecond <= 0 || clients.length === 0) return;
  const interval = 1000 / messagesPerSecond;
  const startedAt = performance.now();
  const pending: Promise<void>[] = [];
  // Paced by the clock, not by a fixed sleep, so that a slow turn of the loop is caught up.
  for (let n = 0; performance.now() - startedAt < durationMs; n++) {
    const due = startedAt + n * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const client = clients[Math.floor(Math.random() * clients.length)]!;
    const mySeq = seq++;
    pending.push(
      client
        .timeout(10_000)
        .emitWithAck('chat message', { text: benchText(workerId, mySeq, preciseNow()) })
        .then((result) => {
          if (result.ok) acknowledged.push(`${workerId}:${mySeq}`);
        })
        .catch(() => {}),
    );
  }
  await Promise.all(pending);
}

function report(phase: string): WorkerReport {
  const cpu = process.cpuUsage(cpuAtStart);
  const wallMs = performance.now() - wallAtStart;
  return {
    phase,
    connected: clients.length,
    failed,
    connectMs,
    acknowledged,
    receivedBy,
    duplicates,
    disconnects,
    cpuShare: (cpu.user + cpu.system) / 1000 / wallMs,
  };
}

process.on('message', (message: WorkerCommand) => {
  void (async () => {
    switch (message.command) {
      case 'connect':
        await connect(message.url, message.addresses, message.clients);
        process.send!({ done: 'connect', report: report('connect') });
        break;
      case 'send':
        resetCounts();
        await send(message.messagesPerSecond, message.durationMs);
        process.send!({ done: 'send' });
        break;
      case 'report':
        process.send!({ done: 'report', report: report(message.phase) });
        break;
      case 'close':
        for (const client of clients) client.close();
        process.exit(0);
    }
  })();
});
