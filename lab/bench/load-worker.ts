/**
 * A load generator for `npm run bench`, run as a child process (IPC): it connects many light
 * clients (lab/bench/raw-client.ts) from the addresses it is given, sends messages at the rate it
 * is told from random ones among them, and counts by id what its clients receive. The measuring
 * process never carries this load.
 */
import { DEFAULT_ROOM } from '../../shared/events.js';
import { benchText, preciseNow, type WorkerCommand, type WorkerReport } from './protocol.js';
import { RawClient } from './raw-client.js';

const workerId = Number(process.env.BENCH_WORKER_ID ?? 0);
/** Handshakes in flight at once; more would only queue in the kernel and in the server. */
const CONNECT_CONCURRENCY = 200;
const HANDSHAKE_TIMEOUT_MS = 20_000;
const ACK_TIMEOUT_MS = 10_000;

let clients: { client: RawClient; room: string }[] = [];
let members: Record<string, number> = {};
let failed = 0;
let connectMs = 0;
let seq = 0;
let acknowledged: Record<string, string[]> = {};
let receivedBy: Record<string, number> = {};
let disconnects: string[] = [];
let cpuAtStart = process.cpuUsage();
let wallAtStart = performance.now();

const events = {
  delivery: (id: string) => {
    receivedBy[id] = (receivedBy[id] ?? 0) + 1;
  },
  closed: (reason: string) => disconnects.push(reason),
};

function resetCounts(): void {
  acknowledged = {};
  receivedBy = {};
  disconnects = [];
  cpuAtStart = process.cpuUsage();
  wallAtStart = performance.now();
}

async function connect(url: string, addresses: string[], count: number, roomsByInstance: Record<string, string[]> | undefined): Promise<void> {
  const startedAt = performance.now();
  const joinedOn: Record<string, number> = {};
  let next = 0;
  const connectNext = async (): Promise<void> => {
    for (let n = next++; n < count; n = next++) {
      try {
        const client = await RawClient.connect(url, { localAddress: addresses[n % addresses.length]!, timeoutMs: HANDSHAKE_TIMEOUT_MS, events });
        let room = DEFAULT_ROOM;
        if (roomsByInstance) {
          const instance = await client.instance;
          const choices = roomsByInstance[instance] ?? [];
          const turn = joinedOn[instance] ?? 0;
          joinedOn[instance] = turn + 1;
          room = choices[turn % choices.length]!;
          if (!(await client.emitWithAck('join', room, ACK_TIMEOUT_MS))) throw new Error(`could not join ${room}`);
          members[room] = (members[room] ?? 0) + 1;
        }
        clients.push({ client, room });
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, connectNext));
  connectMs = performance.now() - startedAt;
}

async function send(messagesPerSecond: number, durationMs: number, toRooms: boolean): Promise<void> {
  if (messagesPerSecond <= 0 || clients.length === 0) return;
  const interval = 1000 / messagesPerSecond;
  const startedAt = performance.now();
  const pending: Promise<void>[] = [];
  // Paced by the clock, not by a fixed sleep, so that a slow turn of the loop is caught up.
  for (let n = 0; performance.now() - startedAt < durationMs; n++) {
    const wait = startedAt + n * interval - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { client, room } = clients[Math.floor(Math.random() * clients.length)]!;
    const mySeq = seq++;
    const id = `${workerId}:${mySeq}`;
    const text = benchText(workerId, mySeq, preciseNow());
    const target = toRooms ? room : DEFAULT_ROOM;
    // A bare string goes to `general` on every server version, the plain chat's (the baseline) included.
    const payload = toRooms ? { text, room } : text;
    pending.push(
      client.emitWithAck('chat message', payload, ACK_TIMEOUT_MS).then((ok) => {
        if (!ok) return;
        const ids = acknowledged[target] ?? [];
        ids.push(id);
        acknowledged[target] = ids;
      }),
    );
  }
  await Promise.all(pending);
}

function report(): WorkerReport {
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    connected: clients.length,
    failed,
    connectMs,
    members,
    acknowledged,
    receivedBy,
    disconnects,
    cpuShare: (cpu.user + cpu.system) / 1000 / (performance.now() - wallAtStart),
  };
}

process.on('message', (message: WorkerCommand) => {
  void (async () => {
    switch (message.command) {
      case 'connect':
        await connect(message.url, message.addresses, message.clients, message.roomsByInstance);
        process.send!({ done: 'connect', report: report() });
        break;
      case 'send':
        resetCounts();
        await send(message.messagesPerSecond, message.durationMs, message.toRooms);
        process.send!({ done: 'send' });
        break;
      case 'report':
        process.send!({ done: 'report', report: report() });
        break;
      case 'disconnect':
        for (const { client } of clients) client.close();
        clients = [];
        members = {};
        failed = 0;
        process.send!({ done: 'disconnect' });
        break;
      case 'close':
        for (const { client } of clients) client.close();
        process.exit(0);
    }
  })();
});
