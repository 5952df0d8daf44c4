/**
 * A replica's container dies (`docker kill`): its clients see the drop at once, but the address
 * the front connects to stops answering, so the front's connection attempts hang (no RST) instead
 * of being refused, as a dead local process's port refuses them. Reproduced here on loopback: the
 * killed replica's port is taken by a listener that never accepts (test/fixtures/unanswering-port.ts)
 * with its accept queue full, so Linux drops every SYN to it. Through each front, with the real
 * config, a client that was on it is welcomed by another replica within 5 s and catches up; with
 * the front's connect timeout at its default, the same client is still stuck after those 5 s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startService, waitUntilReady, type ChildService } from '../lab/cluster/child-process.js';
import { FRONTS, startCluster, startHaproxy, startNginx, type Front, type Replica, type RunningCluster } from '../lab/cluster/cluster.js';
import { HAPROXY_CFG_PATH } from '../lab/cluster/haproxy-conf.js';
import { replaceRequired } from '../lab/cluster/nginx-conf.js';
import { NGINX_CONF_PATH, PROJECT_ROOT } from '../lab/cluster/topology.js';
import { UNANSWERING_BACKLOG } from './fixtures/unanswering-port.js';
import { withDefaultConnectTimeout } from './fixtures/nginx-variants.js';
import { connectChatClient, ListeningClient, WITHOUT_RATE_LIMIT, pollUntil, sendMessage } from './helpers.js';

const BASE_PORTS: Record<Front, number> = { nginx: 29480, haproxy: 29580 };
/** What the README promises after a replica dies. */
const FAILOVER_BUDGET_MS = 5000;
const UNANSWERING_PORT = join(PROJECT_ROOT, 'test', 'fixtures', 'unanswering-port.ts');
/** A connection on loopback that is not up after this long is not coming (it would take microseconds). */
const HANG_PROBE_MS = 300;

/** Each front's config with its connect timeout at the front's default: the negative control. */
const DEFAULT_CONNECT_TIMEOUT: Record<Front, (cluster: RunningCluster, port: number) => Promise<ChildService>> = {
  // nginx: 60 s.
  nginx: (cluster, port) =>
    startNginx({
      name: 'nginx-default-connect-timeout',
      conf: withDefaultConnectTimeout(readFileSync(NGINX_CONF_PATH, 'utf8')),
      ports: { ...cluster.ports, front: port },
      prefix: join(cluster.stateDir, 'nginx-default-connect-timeout'),
    }),
  // HAProxy: none at all (it warns at start).
  haproxy: (cluster, port) =>
    startHaproxy({
      name: 'haproxy-default-connect-timeout',
      cfg: replaceRequired(readFileSync(HAPROXY_CFG_PATH, 'utf8'), /^\s*timeout connect .*\n/m, () => '', '`timeout connect`'),
      ports: { ...cluster.ports, front: port },
      dir: cluster.stateDir,
    }),
};

/**
 * SIGKILLs `replica` and puts on its port, within milliseconds, a listener that never accepts.
 * Resolves once its accept queue is full, with the time of the kill and a `stop` that closes the
 * holder and the connections filling its queue.
 */
async function killAndHangConnectionsTo(replica: Replica, dir: string): Promise<{ killedAt: number; stop(): Promise<void> }> {
  const holder = startService('unanswering port', process.execPath, ['--import', 'tsx', UNANSWERING_PORT, String(replica.port)], {
    logFile: join(dir, 'unanswering-port.log'),
  });
  const fillers: Socket[] = [];
  let killedAt = 0;
  const stop = async () => {
    for (const socket of fillers) socket.destroy();
    await holder.stop();
  };
  const logged = (line: string) => async () => readFileSync(holder.logFile, 'utf8').includes(`${line}\n`);
  try {
    // Killed only once the holder is running: its start-up takes longer than a client's first
    // reconnect, which would otherwise find the port refusing.
    await waitUntilReady(holder, logged('waiting'));
    process.kill(replica.process.pid, 'SIGKILL');
    killedAt = Date.now();
    await waitUntilReady(holder, logged('listening'));
    // Fill its accept queue: a connection that gets in stays queued for good (the fronts' health
    // checks may take places too). Once an attempt hangs, the queue is full.
    for (let n = 0; ; n++) {
      if (n > UNANSWERING_BACKLOG + 1) throw new Error(`port ${replica.port} still accepts into its queue after ${n} connections`);
      const socket = connect(replica.port, '127.0.0.1');
      fillers.push(socket);
      const outcome = await connectionOutcome(socket, HANG_PROBE_MS);
      if (outcome === 'hangs') break;
      if (outcome !== 'connected') throw new Error(`port ${replica.port}: ${outcome}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { killedAt, stop };
}

/** What `socket`'s connection attempt does within `ms`: 'connected', an error code ('ECONNREFUSED'), or 'hangs'. */
async function connectionOutcome(socket: Socket, ms: number): Promise<string> {
  return Promise.race([
    new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    }),
    delay(ms, 'hangs'),
  ]);
}

/**
 * A client through `url` on `replica`, which reconnects by itself. nginx keys on the client's
 * address (127.0.N.1 spreads over the replicas); HAProxy on its cookie, sent here as a browser
 * that was on `replica` would send it (haproxy.cfg: `cookie chat_replica`, `cookie chatN`).
 */
async function clientOn(url: string, replica: Replica, replicaCount: number): Promise<ListeningClient> {
  for (let n = 1; n <= 2 * replicaCount; n++) {
    const client = await ListeningClient.connect(url, {
      localAddress: `127.0.${n}.1`,
      reconnection: true,
      extraHeaders: { cookie: `chat_replica=chat${replica.number}` },
    });
    if (client.welcomes[0] === String(replica.number)) return client;
    client.close();
  }
  throw new Error(`no client through ${url} landed on instance ${replica.number}`);
}

for (const front of FRONTS)
  describe(`a replica that vanishes behind ${front}`, { timeout: 60_000 }, () => {
    let cluster: RunningCluster;
    let controlFront: ChildService;
    const controlUrl = `http://127.0.0.1:${BASE_PORTS[front] - 1}`;

    before(async () => {
      cluster = await startCluster({ basePort: BASE_PORTS[front], front, replicaEnv: WITHOUT_RATE_LIMIT });
      controlFront = await DEFAULT_CONNECT_TIMEOUT[front](cluster, BASE_PORTS[front] - 1);
    });
    after(async () => {
      await controlFront?.stop();
      await cluster?.stop();
    });

    test(`its client is welcomed by another replica within ${FAILOVER_BUDGET_MS / 1000} s and catches up; with the default connect timeout it is stuck`, async (t) => {
      const [survivor, victim] = cluster.replicas as [Replica, Replica];
      const client = await clientOn(cluster.url, victim, cluster.replicas.length);
      t.after(() => client.close());
      const control = await clientOn(controlUrl, victim, cluster.replicas.length);
      t.after(() => control.close());
      const { socket: talker } = await connectChatClient(survivor.url);
      t.after(() => talker.close());

      const holder = await killAndHangConnectionsTo(victim, cluster.stateDir);
      const { killedAt } = holder;
      t.after(() => holder.stop());

      const sent = await sendMessage(talker, 'said while instance was gone');
      assert.ok(sent !== 'no answer' && sent.ok, JSON.stringify(sent));

      await pollUntil(
        async () => client.welcomes.length,
        (count) => count >= 2,
        { what: 'the client to be welcomed again', timeoutMs: FAILOVER_BUDGET_MS - (Date.now() - killedAt) },
      );
      const failoverMs = Date.now() - killedAt;
      t.diagnostic(`${front}: welcomed by instance ${client.welcomes[1]} ${failoverMs} ms after instance ${victim.number} was killed`);
      assert.notEqual(client.welcomes[1], String(victim.number));
      await client.waitForIds([sent.id], 'the message said while it was away');

      // Proving an absence takes the whole budget: the control client is watched until it ends.
      await delay(FAILOVER_BUDGET_MS - (Date.now() - killedAt));
      assert.deepEqual(control.welcomes, [String(victim.number)], 'with the default connect timeout, the client is still waiting');
      assert.equal(control.socket.connected, false);
    });
  });
