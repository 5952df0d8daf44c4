/**
 * `npm run soak`: 500 people chatting through nginx for a minute on a cluster of its own, rate limit
 * on, each sending a message every ~10 s. Then every acknowledged message must have reached every
 * client that was there when it was sent, exactly once. Prints a summary; exits 0 if so, 1 if not.
 *
 *   npm run soak -- --seconds 60 --clients 500
 */
import { parseArgs } from 'node:util';
import { startCluster, type RunningCluster } from '../cluster/cluster.js';
import { pollUntil, rssBytes } from '../../test/helpers.js';
import { inBatches } from '../in-batches.js';
import { SoakClient } from './soak-client.js';
import { DeliveryLedger, soakPassed, type SoakVerdict } from './soak-deliveries.js';

/**
 * Its own ports (26080-26089), clear of `npm run cluster`, the tests, and the ephemeral ports
 * (32768-) that outgoing connections take their local port from.
 */
const BASE_PORT = 26080;
/** A person's pace: a message every 10 s, give or take 2. */
const SEND_INTERVAL_MS = 10_000;
const SEND_JITTER_MS = 2000;
/** Clients connecting at once: a crowd arriving, not a thundering herd the soak would measure instead. */
const CONNECT_BATCH = 25;
/** Source addresses 127.0.N.M: ip_hash keys on 127.0.N, so many N spread the clients over the replicas. */
const ADDRESS_BUCKETS = 100;
/** After the last acknowledgement, how long deliveries may take to arrive before the missing ones count as lost. */
const SETTLE_TIMEOUT_MS = 15_000;

const { values: options } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, clients: { type: 'string', default: '500' } },
});
const seconds = Number(options.seconds);
const clientCount = Number(options.clients);
if (!(seconds > 0) || !(Number.isInteger(clientCount) && clientCount > 0)) {
  console.error('usage: npm run soak -- [--seconds 60] [--clients 500]');
  process.exit(2);
}

const clients: SoakClient[] = [];
let cluster: RunningCluster | undefined;
let stopped: Promise<void> | undefined;

/** Closes every client and stops the cluster; once, whoever asks first (the end, a failure, Ctrl-C). */
function stopEverything(): Promise<void> {
  stopped ??= (async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  })();
  return stopped;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping the soak`);
    void stopEverything().then(() => process.exit(130));
  });
}

try {
  const startedAt = Date.now();
  cluster = await startCluster({ basePort: BASE_PORT });
  const { url, replicas } = cluster;
  console.log(`cluster up at ${url} (logs: ${cluster.stateDir}); connecting ${clientCount} clients`);

  const peakRss = new Map(replicas.map((replica) => [replica.number, rssBytes(replica.process.pid)]));
  const rssSampler = setInterval(() => {
    for (const { number, process: child } of replicas) {
      if (!child.hasExited()) peakRss.set(number, Math.max(peakRss.get(number)!, rssBytes(child.pid)));
    }
  }, 1000);

  // Room for every client's messages at its fastest pace, twice over.
  const ledger = new DeliveryLedger(clientCount, clientCount * 2 * Math.ceil((seconds * 1000) / (SEND_INTERVAL_MS - SEND_JITTER_MS) + 1));
  clients.push(
    ...(await inBatches(clientCount, CONNECT_BATCH, (number) =>
      SoakClient.connect(url, number, `127.0.${(number % ADDRESS_BUCKETS) + 1}.${Math.floor(number / ADDRESS_BUCKETS) + 1}`, ledger),
    )),
  );
  const perReplica = countBy(clients.map((client) => client.instance));
  console.log(`connected after ${elapsed(startedAt)}; chatting for ${seconds} s`);

  const chatStartedAt = Date.now();
  await Promise.all(clients.map((client) => client.chat({ until: chatStartedAt + seconds * 1000, intervalMs: SEND_INTERVAL_MS, jitterMs: SEND_JITTER_MS })));
  const chatEndedAt = Date.now();
  // The last acknowledgements are in; their broadcasts may still be on their way.
  const verdict = await pollUntil(
    async () => ledger.verdict(),
    (current) => current.lost === 0,
    {
      what: 'every acknowledged message to reach every client',
      timeoutMs: SETTLE_TIMEOUT_MS,
      intervalMs: 500,
    },
  ).catch(() => ledger.verdict());
  clearInterval(rssSampler);

  const exited = replicas.filter((replica) => replica.process.hasExited()).map((replica) => replica.number);
  printSummary({ verdict, perReplica, peakRss, exited, chatSeconds: (chatEndedAt - chatStartedAt) / 1000, totalSeconds: (Date.now() - startedAt) / 1000 });
  const passed = soakPassed(verdict) && exited.length === 0;
  console.log(passed ? 'soak passed' : 'soak FAILED');
  await stopEverything();
  process.exit(passed ? 0 : 1);
} catch (err) {
  console.error(`soak failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopEverything();
  process.exit(1);
}

function printSummary(summary: {
  verdict: SoakVerdict;
  perReplica: Map<string, number>;
  peakRss: Map<number, number>;
  exited: number[];
  chatSeconds: number;
  totalSeconds: number;
}): void {
  const { verdict } = summary;
  const lines = [
    `clients:              ${clientCount} (${verdict.reconnectedClients} reconnected at least once)`,
    `clients per replica:  ${[...summary.perReplica]
      .sort()
      .map(([instance, count]) => `#${instance}: ${count}`)
      .join(', ')}`,
    `messages:             ${verdict.sent} sent, ${verdict.acknowledged} acknowledged, ${verdict.refused} refused, ${verdict.unanswered} unanswered`,
    `deliveries:           ${verdict.deliveriesExpected} expected, ${verdict.deliveriesReceived} received`,
    `lost:                 ${verdict.lost}`,
    `duplicated:           ${verdict.duplicated} (plus ${verdict.repeatedAcrossReconnects} repeated across a reconnect, merged by id); ${verdict.loggedTwice} logged twice`,
    `peak RSS per replica: ${[...summary.peakRss].map(([number, bytes]) => `#${number}: ${(bytes / 1024 / 1024).toFixed(0)} MB`).join(', ')}`,
    `replicas exited:      ${summary.exited.length === 0 ? 'none' : summary.exited.map((number) => `#${number}`).join(', ')}`,
    `duration:             ${summary.chatSeconds.toFixed(0)} s chatting, ${summary.totalSeconds.toFixed(0)} s in all (cluster start, connecting, settling)`,
  ];
  console.log(lines.join('\n'));
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
