/**
 * Metrics and operator logs, for real: the alert rules and the Prometheus config checked by
 * promtool; then a cluster scraped every second by a real Prometheus (Debian's), queried through its
 * HTTP API after clients chat, through a Redis restart (and what the replicas log about it), and
 * after a replica is SIGKILLed. /metrics is served by each replica, and by neither front. Last, the
 * adapter packets a replica throws away (no member of their room), with each adapter.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import type { ChildService } from '../lab/cluster/child-process.js';
import { startCluster, startHaproxy, type RunningCluster } from '../lab/cluster/cluster.js';
import { HAPROXY_CFG_PATH } from '../lab/cluster/haproxy-conf.js';
import { deriveLocalPrometheusConfig, PROMETHEUS_CONFIG_PATH, PROMETHEUS_DIR, prometheusReplicaNumbers } from '../lab/cluster/prometheus-conf.js';
import { PROMTOOL, requireProgram } from '../lab/cluster/system-programs.js';
import { clusterPorts, replicaNumbers } from '../lab/cluster/topology.js';
import type { RedisAdapterKind } from '../server/config.js';
import {
  freePort,
  getHealth,
  httpGetText,
  ListeningClient,
  makeTempDir,
  EVENT_TIMEOUT_MS,
  pollUntil,
  runToExit,
  sendMessage,
  STACK_FRAME,
  startRedis,
  startReplica,
  startTestReplicas,
  untyped,
  WITHOUT_RATE_LIMIT,
  type ChatSocket,
} from './helpers.js';

// Clear of a user's `npm run cluster` (8080-8090), the e2e suite (18080-) and the other Node tests.
const BASE_PORT = 25080;
/** The HAProxy front, beside the cluster's nginx. */
const HAPROXY_PORT = BASE_PORT - 1;

describe('the alert rules and the Prometheus config, statically', () => {
  test('`promtool check rules` accepts alerts.yml, and its unit tests (alerts.test.yml) pass', async () => {
    const promtool = requireProgram(PROMTOOL);
    const checked = await runToExit(promtool, ['check', 'rules', join(PROMETHEUS_DIR, 'alerts.yml')]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const tested = await runToExit(promtool, ['test', 'rules', join(PROMETHEUS_DIR, 'alerts.test.yml')]);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
  });

  test('prometheus.yml scrapes the replicas nginx.conf lists; promtool accepts it and its local copy', async () => {
    const config = readFileSync(PROMETHEUS_CONFIG_PATH, 'utf8');
    assert.deepEqual(prometheusReplicaNumbers(config), replicaNumbers());
    const promtool = requireProgram(PROMTOOL);
    const real = await runToExit(promtool, ['check', 'config', PROMETHEUS_CONFIG_PATH]);
    assert.equal(real.code, 0, real.stdout + real.stderr);
    const dir = makeTempDir('prometheus-config');
    try {
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, deriveLocalPrometheusConfig(config, clusterPorts(BASE_PORT)));
      const local = await runToExit(promtool, ['check', 'config', file]);
      assert.equal(local.code, 0, local.stdout + local.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a replica with METRICS=off serves no /metrics', async (t) => {
  const dir = makeTempDir('metrics-off');
  const port = await freePort();
  const replica = await startReplica({ number: 1, port, dir, env: { METRICS: 'off' } });
  t.after(async () => {
    await replica.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal((await httpGetText(`http://127.0.0.1:${port}/metrics`)).status, 404);
  assert.equal((await getHealth(`http://127.0.0.1:${port}`)).status, 200);
});

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('a cluster scraped by a real Prometheus', { timeout: 120_000 }, () => {
  let cluster: RunningCluster;
  let haproxy: ChildService | undefined;
  let restartedRedis: ChildService | undefined;

  before(async () => {
    cluster = await startCluster({ basePort: BASE_PORT, prometheus: true, replicaEnv: WITHOUT_RATE_LIMIT });
    haproxy = await startHaproxy({
      name: 'haproxy-metrics',
      cfg: readFileSync(HAPROXY_CFG_PATH, 'utf8'),
      ports: { ...cluster.ports, front: HAPROXY_PORT },
      dir: cluster.stateDir,
    });
  });

  after(async () => {
    await haproxy?.stop();
    await cluster?.stop();
    await restartedRedis?.stop();
  });

  /** An instant query through Prometheus's HTTP API. */
  async function query(promql: string): Promise<Sample[]> {
    const response = await fetch(`${cluster.prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; data?: { result: Sample[] }; error?: string };
    assert.equal(body.status, 'success', `${promql}: ${body.error}`);
    return body.data!.result;
  }

  /** `promql`'s result as { label value: number }, keyed by `label`. */
  async function queryBy(promql: string, label: string): Promise<Record<string, number>> {
    return Object.fromEntries((await query(promql)).map((sample) => [sample.metric[label] ?? '', Number(sample.value[1])]));
  }

  test('each replica serves /metrics, and promtool finds nothing wrong with the chat_ ones', async () => {
    for (const replica of cluster.replicas) {
      const response = await httpGetText(`${replica.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.contentType, /^text\/plain; version=0\.0\.4/);
      assert.match(response.body, /^chat_connections\{transport="websocket"\} \d+$/m);
      assert.match(response.body, /^process_resident_memory_bytes \d+/m, 'the default metrics');
      const linted = spawnSync(requireProgram(PROMTOOL), ['check', 'metrics'], { input: response.body, encoding: 'utf8' });
      // prom-client's own Node.js gauges end in _total (nodejs_active_handles_total…): not ours to rename.
      const ours = `${linted.stdout}${linted.stderr}`.split('\n').filter((line) => line.startsWith('chat_'));
      assert.deepEqual(ours, [], `replica ${replica.number}`);
    }
  });

  test('neither nginx nor HAProxy serves /metrics, however it is spelled', async () => {
    const fronts = { nginx: cluster.url, haproxy: `http://127.0.0.1:${HAPROXY_PORT}` };
    // What the replicas answer with their metrics: each spelling is checked directly first.
    const spellings = ['/metrics', '/metrics/', '/METRICS', '/Metrics/', '/metrics?format=text'];
    for (const path of spellings) assert.equal((await httpGetText(`${cluster.replicas[0]!.url}${path}`)).status, 200, `${path} on a replica`);
    for (const [front, url] of Object.entries(fronts)) {
      assert.equal((await getHealth(url)).status, 200, `${front} passes other paths on`);
      for (const path of spellings) {
        const response = await httpGetText(`${url}${path}`);
        assert.equal(response.status, 404, `${path} through ${front}`);
        assert.doesNotMatch(response.body, /chat_/, `${path} through ${front}`);
      }
    }
  });

  test('after clients connect and chat, Prometheus counts connections per replica and messages across replicas', async (t) => {
    // 1, 2 and 3 WebSocket clients on replicas 1-3, and one long-polling client on replica 4.
    const clients: ListeningClient[] = [];
    for (const replica of cluster.replicas.slice(0, 3)) {
      for (let n = 0; n < replica.number; n++) clients.push(await ListeningClient.connect(replica.url));
    }
    clients.push(await ListeningClient.connect(cluster.replicas[3]!.url, { transports: ['polling'] }));
    t.after(() => {
      for (const client of clients) client.close();
    });

    const senders = [clients[0]!, clients.at(-2)!]; // on replicas 1 and 3
    const ids: string[] = [];
    for (let n = 0; n < 8; n++) {
      const result = await sendMessage(senders[n % 2]!.socket, `counted ${n}`);
      assert.ok(result !== 'no answer' && result.ok, JSON.stringify(result));
      ids.push(result.id);
    }

    await pollUntil(
      () => queryBy('sum by (replica) (chat_connections)', 'replica'),
      (counts) => JSON.stringify(counts) === JSON.stringify({ 1: 1, 2: 2, 3: 3, 4: 1 }),
      { what: 'the connections per replica' },
    );
    assert.deepEqual(await queryBy('chat_connections{replica="4"}', 'transport'), { polling: 1, websocket: 0 });
    await pollUntil(
      () => query('sum(chat_messages_accepted_total)'),
      (result) => result[0]?.value[1] === '8',
      { what: 'eight messages across the replicas' },
    );
    assert.equal((await query('sum(chat_message_ack_duration_seconds_count)'))[0]?.value[1], '8');
    // Every message reached all seven clients, each through its own replica's adapter: the two
    // replicas that sent and the two that only received count alike.
    await pollUntil(
      () => queryBy('sum by (replica) (chat_deliveries_total{event="chat message"})', 'replica'),
      (deliveries) => JSON.stringify(deliveries) === JSON.stringify({ 1: 8, 2: 16, 3: 24, 4: 8 }),
      { what: 'eight deliveries per client' },
    );
    assert.deepEqual(await queryBy('chat_presence_replicas', 'replica'), { 1: 4, 2: 4, 3: 4, 4: 4 });

    // A client returning after the fourth message catches up on the four after it. (Others may
    // have caught up on a gap too, so the counts are at least these.)
    const returning: ChatSocket = io(cluster.replicas[1]!.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    t.after(() => returning.close());
    const caughtUp = await returning.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', ids[3]!);
    assert.ok(caughtUp.ok && caughtUp.messages.length === 4, JSON.stringify(caughtUp));
    await pollUntil(
      () => query('sum(chat_catch_up_messages_sum{trigger="gap"})'),
      (samples) => Number(samples[0]?.value[1] ?? 0) >= 4,
      { what: 'the four caught-up messages counted' },
    );
    assert.ok(Number((await query('sum(chat_catch_ups_total{trigger="gap"})'))[0]?.value[1] ?? 0) >= 1);
  });

  test('the guards count what they turn away: a foreign origin, a bad handshake, an invalid message, a frame too large', async (t) => {
    const url = cluster.replicas[3]!.url;
    const refused = (options: Parameters<typeof io>[1]) =>
      new Promise<void>((resolve, reject) => {
        const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
        socket.once('connect', () => reject(new Error(`let in: ${JSON.stringify(options)}`)));
        socket.once('connect_error', () => {
          socket.close();
          resolve();
        });
      });
    await refused({ extraHeaders: { origin: 'https://elsewhere.example' } });
    await refused({ auth: { name: '\u200b' } });

    const client = await ListeningClient.connect(url);
    t.after(() => client.close());
    assert.deepEqual(await sendMessage(client.socket, ''), { ok: false, error: 'message is empty', retryable: false });
    const closed = new Promise((resolve) => client.socket.once('disconnect', resolve));
    untyped(client.socket).emit('chat message', { text: 'x'.repeat(100_000) });
    await closed;

    await pollUntil(
      () =>
        query(
          'chat_connections_refused_total{replica="4"} or chat_messages_refused_total{replica="4", reason="invalid"} or chat_frames_too_large_total{replica="4"}',
        ),
      (samples) => samples.length === 4 && samples.every((sample) => sample.value[1] === '1'),
      { what: 'one origin refusal, one handshake refusal, one invalid message and one frame too large on replica 4' },
    );
  });

  test('a Redis restart: each replica logs one line per connection lost and one when back, no stack trace', async () => {
    // Complete lines so far: a line being written at this moment is counted with the later ones.
    const completeLines = (file: string) => readFileSync(file, 'utf8').split('\n').slice(0, -1);
    const linesBefore = cluster.replicas.map((replica) => completeLines(replica.process.logFile).length);
    process.kill(cluster.redis!.pid, 'SIGKILL');
    await pollUntil(
      () => Promise.all(cluster.replicas.map(async (replica) => (await getHealth(replica.url)).status)),
      (statuses) => statuses.every((status) => status === 503),
      { what: 'every replica to notice' },
    );
    const port = cluster.ports.redis;
    restartedRedis = await startRedis({ port, dir: cluster.stateDir, name: 'redis-restarted', password: cluster.redisPassword });
    await pollUntil(
      () => Promise.all(cluster.replicas.map(async (replica) => (await getHealth(replica.url)).status)),
      (statuses) => statuses.every((status) => status === 200),
      { what: 'every replica to be back' },
    );

    for (const [index, replica] of cluster.replicas.entries()) {
      const lines = completeLines(replica.process.logFile).slice(linesBefore[index]);
      const entries = lines.map((line) => JSON.parse(line) as { level: number; msg: string; replica?: string; connection?: string; reason?: string });
      const who = `replica ${replica.number}:\n${lines.join('\n')}`;
      assert.doesNotMatch(lines.join('\n'), STACK_FRAME, who);
      assert.ok(
        entries.every((entry) => entry.replica === String(replica.number)),
        who,
      );
      const redisLines = entries.filter((entry) => entry.msg.startsWith('redis:')).map((entry) => `${entry.connection} ${entry.msg}`);
      assert.deepEqual(
        redisLines.sort(),
        [
          'commands redis: connection lost, reconnecting',
          'commands redis: connection restored',
          'subscriber redis: connection lost, reconnecting',
          'subscriber redis: connection restored',
        ],
        who,
      );
      assert.ok(
        entries.filter((entry) => entry.msg === 'redis: connection lost, reconnecting').every((entry) => entry.reason),
        `${who}\nthe lines about a loss say why`,
      );
    }
    await pollUntil(
      () => queryBy('sum by (connection) (chat_redis_connection_losses_total)', 'connection'),
      (losses) => losses.commands === 4 && losses.subscriber === 4,
      { what: 'one loss per connection and replica' },
    );
  });

  // Last: it kills a replica the tests above use.
  test('a replica killed with SIGKILL shows as down (up == 0), the others as up', async () => {
    process.kill(cluster.replicas[1]!.process.pid, 'SIGKILL');
    await pollUntil(
      () => queryBy('up{job="chat"}', 'replica'),
      (up) => JSON.stringify(up) === JSON.stringify({ 1: 1, 2: 0, 3: 1, 4: 1 }),
      { what: 'replica 2 down, the others up' },
    );
  });
});

for (const adapter of ['classic', 'sharded'] as const satisfies RedisAdapterKind[]) {
  test(`the adapter packets a replica receives for a room it has no member of (${adapter} adapter): ${adapter === 'classic' ? 'every one, thrown away' : 'none'}`, {
    timeout: 60_000,
  }, async (t) => {
    const dir = makeTempDir('adapter-packets');
    const redisPort = await freePort();
    const redis = await startRedis({ port: redisPort, dir });
    const replicas = await startTestReplicas({
      numbers: [1, 2, 3],
      dir,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      env: { ...WITHOUT_RATE_LIMIT, REDIS_ADAPTER: adapter },
    });
    t.after(async () => {
      await replicas.stop();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    /** chat_adapter_packets_received_total of each replica, by for_local_members. */
    const packets = async (number: number) => {
      const body = (await httpGetText(`${replicas.url(number)}/metrics`)).body;
      const value = (label: string) =>
        Number(new RegExp(`^chat_adapter_packets_received_total\\{for_local_members="${label}"\\} (\\d+)$`, 'm').exec(body)?.[1]);
      return { yes: value('yes'), no: value('no') };
    };
    const room = 'ops';
    const member = await replicas.client(t, 1);
    assert.deepEqual(await member.socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('create room', room), { ok: true, room });
    const sender = await replicas.client(t, 1, { room });
    const before = await Promise.all([1, 2, 3].map(packets));
    const count = 10;
    for (let n = 0; n < count; n++) {
      const result = await sender.send(`only replica 1 has members ${n}`);
      assert.ok(result !== 'no answer' && result.ok, JSON.stringify(result));
    }
    // Replica 1 receives its own broadcasts back, for its own member: the hook counts with both adapters.
    await pollUntil(
      () => packets(1),
      (now) => now.yes - before[0]!.yes >= count && now.no === before[0]!.no,
      { what: `replica 1 counting ${count} packets for its members` },
    );
    const others = await Promise.all([2, 3].map(packets));
    for (const [index, now] of others.entries()) {
      const thrownAway = now.no - before[index + 1]!.no;
      if (adapter === 'classic') assert.ok(thrownAway >= count, `replica ${index + 2} threw away ${thrownAway} packets, fewer than the ${count} messages`);
      else assert.equal(thrownAway, 0, `replica ${index + 2} received packets of a room it has no member of`);
    }
  });
}
