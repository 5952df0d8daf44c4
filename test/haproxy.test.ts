/**
 * HAProxy as the front (haproxy/haproxy.cfg), on a real cluster: stickiness by cookie instead of
 * by client address, with its negative control (no cookie: 400 "Session ID unknown"), clients from
 * one address spread over the replicas, messages crossing them, and `timeout tunnel`, with its
 * negative control. Failover through HAProxy is in failover.test.ts, with nginx's.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import type { ChildService } from '../lab/cluster/child-process.js';
import { startCluster, startHaproxy, type RunningCluster } from '../lab/cluster/cluster.js';
import { deriveLocalHaproxyCfg, HAPROXY_CFG_PATH, haproxyReplicaNumbers } from '../lab/cluster/haproxy-conf.js';
import { replaceRequired } from '../lab/cluster/nginx-conf.js';
import { HAPROXY, requireProgram } from '../lab/cluster/system-programs.js';
import { clusterPorts, replicaNumbers } from '../lab/cluster/topology.js';
import {
  assertOnlyBrokenFrontCutsIdleClients,
  connectChatClient,
  EVENT_TIMEOUT_MS,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  nextChatMessage,
  runToExit,
  sendMessage,
  withTimeout,
  type ChatSocket,
} from './helpers.js';

const BASE_PORT = 29080;
/** Long-polling round trips a session must survive: each message is one POST up and one GET down. */
const ROUND_TRIPS = 20;
const realCfg = readFileSync(HAPROXY_CFG_PATH, 'utf8');

describe('haproxy.cfg, statically', () => {
  test('lists the same replicas as nginx.conf', () => {
    assert.deepEqual(haproxyReplicaNumbers(realCfg), replicaNumbers());
  });

  test('the derived local config passes `haproxy -c`', async () => {
    const dir = makeTempDir('haproxy-check');
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, deriveLocalHaproxyCfg(realCfg, clusterPorts(BASE_PORT)));
    const finished = await runToExit(requireProgram(HAPROXY), ['-c', '-f', file]);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);
  });
});

describe('HAProxy in front of a real cluster', { timeout: 90_000 }, () => {
  let cluster: RunningCluster;
  const variants: ChildService[] = [];

  before(async () => {
    cluster = await startCluster({ basePort: BASE_PORT, front: 'haproxy', replicaEnv: WITHOUT_RATE_LIMIT });
  });

  after(async () => {
    for (const variant of variants) await variant.stop();
    await cluster?.stop();
  });

  /** A long-polling-only client: `withCredentials` gives it a cookie jar, as a browser has. */
  function pollingClient(keepsCookies: boolean): ChatSocket {
    return io(cluster.url, { transports: ['polling'], withCredentials: keepsCookies, reconnection: false, forceNew: true });
  }

  test(`with its cookie, a polling client keeps one session for ${ROUND_TRIPS} round trips`, async (t) => {
    const socket = pollingClient(true);
    t.after(() => socket.close());
    await withTimeout(new Promise((resolve) => socket.once('welcome', resolve)), EVENT_TIMEOUT_MS, 'a welcome over polling');
    const sessionId = socket.io.engine.id;
    for (let n = 0; n < ROUND_TRIPS; n++) {
      const echoed = nextChatMessage(socket, `round trip ${n}`);
      const result = await sendMessage(socket, `round trip ${n}`);
      assert.equal(result !== 'no answer' && result.ok, true, `round trip ${n}: ${JSON.stringify(result)}`);
      await echoed;
    }
    assert.equal(socket.io.engine.id, sessionId);
    assert.equal(socket.io.engine.transport.name, 'polling');
  });

  test('without the cookie, the same client fails: 400 "Session ID unknown"', async (t) => {
    const socket = pollingClient(false);
    t.after(() => socket.close());
    // The handshake lands on one replica, the next request (round-robin, no cookie) on another.
    const failure = await withTimeout(
      new Promise<{ description?: unknown }>((resolve) => socket.io.on('error', (err) => resolve(err as { description?: unknown }))),
      EVENT_TIMEOUT_MS,
      'the session to break',
    );
    // engine.io-client reports the failed request's HTTP status as the error's description.
    assert.equal(failure.description, 400);
  });

  test('new clients from one address spread over every replica, and a message reaches them all', async (t) => {
    // Round-robin from one address. Other requests (a closing socket of the test before, say) can
    // take a turn in between, so connect until every replica has a client, within three rounds.
    const clients: { socket: ChatSocket; instance: string }[] = [];
    const instances = new Set<string>();
    while (instances.size < cluster.replicas.length && clients.length < 3 * cluster.replicas.length) {
      const { socket, welcome } = await connectChatClient(cluster.url);
      t.after(() => socket.close());
      clients.push({ socket, instance: welcome.instance });
      instances.add(welcome.instance);
    }
    // Unlike ip_hash, which would put all of 127.0.0.1 on one replica.
    assert.equal(instances.size, cluster.replicas.length, `${clients.length} clients reached ${[...instances].join(', ')}`);

    const [sender, ...listeners] = clients;
    const arrivals = listeners.map(({ socket }) => nextChatMessage(socket, 'the message on another replica'));
    const result = await sendMessage(sender!.socket, 'to every replica');
    assert.equal(result !== 'no answer' && result.ok, true);
    for (const message of await Promise.all(arrivals)) assert.equal(message.instance, sender!.instance);
  });

  test('without `timeout tunnel`, a short `timeout client` cuts idle WebSockets; the real config does not', async () => {
    const TIMEOUT_S = 2;
    const withoutTunnel = replaceRequired(realCfg, /^\s*timeout tunnel .*\n/m, () => '', '`timeout tunnel`');
    const shortTimeouts = replaceRequired(
      withoutTunnel,
      /timeout (client|server) \d+s/g,
      (_match, side) => `timeout ${side} ${TIMEOUT_S}s`,
      '`timeout client/server`',
    );
    const port = BASE_PORT - 1;
    variants.push(await startHaproxy({ name: 'haproxy-no-tunnel', cfg: shortTimeouts, ports: { ...cluster.ports, front: port }, dir: cluster.stateDir }));

    await assertOnlyBrokenFrontCutsIdleClients({ realUrl: cluster.url, brokenUrl: `http://127.0.0.1:${port}`, timeoutS: TIMEOUT_S, front: 'HAProxy' });
  });
});
