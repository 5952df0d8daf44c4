/**
 * A rolling deploy under load: the whole cluster as `npm run cluster` runs it, 200 clients chatting
 * through nginx, and each replica in turn sent SIGTERM (as `docker compose up` does to replace it),
 * then started again. The drain, the page's outbox (client/outbox.ts) and the
 * catch-up (client/catch-up.ts) must add up to zero lost and zero doubled messages. Once with each
 * adapter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startCluster, type RunningCluster } from '../lab/cluster/cluster.js';
import type { ChildService } from '../lab/cluster/child-process.js';
import { inBatches } from '../lab/in-batches.js';
import type { RedisAdapterKind } from '../server/config.js';
import { assertExactlyOnce, getHealth, ListeningClient, pollUntil, outboxSender, startReplica } from './helpers.js';

const BASE_PORTS: Record<RedisAdapterKind, number> = { classic: 28580, sharded: 28480 };
const CLIENTS = 200;
/** Clients whose handshakes are in flight together while the test sets up. */
const CONNECTING_AT_ONCE = 20;
/** Each client says something about every this often (with jitter): ~70 messages/s in all, within the rate limit. */
const SEND_EVERY_MS = 3000;
/** How long each replica's drain spreads its clients' closes over (the default is 2000). */
const DRAIN_SPREAD_MS = 500;

for (const adapter of ['classic', 'sharded'] as const satisfies RedisAdapterKind[]) {
  describe(`rolling restart (${adapter} adapter)`, () => {
    let cluster: RunningCluster;
    const restarted: ChildService[] = [];
    const clients: ListeningClient[] = [];
    // A drain spread over half a second rather than two: each replica's clients still leave in
    // batches, and the four restarts take about 6 s less.
    const replicaEnv = { REDIS_ADAPTER: adapter, DRAIN_SPREAD_MS: String(DRAIN_SPREAD_MS) };

    before(async () => {
      cluster = await startCluster({ basePort: BASE_PORTS[adapter], replicaEnv });
      // 127.0.N.1: a different /24 for each client, which is what nginx's ip_hash spreads by.
      // Long-polling first, then the upgrade, as a browser does. It matters here: nginx puts a replica
      // that refused a connection back in service only once a request to it has completed, and a
      // WebSocket never completes (see the README's troubleshooting).
      clients.push(
        ...(await inBatches(CLIENTS, CONNECTING_AT_ONCE, (index) =>
          ListeningClient.connect(cluster.url, { localAddress: `127.0.${index + 1}.1`, reconnection: true, transports: ['polling', 'websocket'] }),
        )),
      );
    });

    after(async () => {
      for (const client of clients) client.close();
      for (const replica of restarted) await replica.stop();
      await cluster?.stop();
    });

    test('SIGTERM to each replica in turn while 200 clients chat: every replica exits 0, no message is lost or doubled', { timeout: 180_000 }, async () => {
      const replicasWithClients = new Set(clients.map((client) => client.welcomes[0]));
      assert.equal(replicasWithClients.size, cluster.replicas.length, 'the clients are spread over every replica');

      let chatting = true;
      const acknowledged: string[] = [];
      const conversations = clients.map(async (client, n) => {
        const send = outboxSender(client.socket);
        for (let turn = 0; chatting; turn++) {
          await delay(SEND_EVERY_MS * (0.5 + Math.random()));
          const outcome = await send(`client ${n}, turn ${turn}`);
          if (!outcome.ok) throw new Error(`client ${n}, turn ${turn} refused: ${outcome.error}`);
          acknowledged.push(outcome.id);
        }
      });

      const exitCodes: (number | string)[] = [];
      for (const replica of cluster.replicas) {
        process.kill(replica.process.pid, 'SIGTERM');
        exitCodes.push(await replica.process.exited);
        // Every client that was on it is connected again, somewhere else.
        await pollUntil(
          async () => clients.filter((client) => !client.socket.connected).length,
          (count) => count === 0,
          {
            what: `every client to reconnect after instance #${replica.number} left`,
            timeoutMs: 20_000,
          },
        );
        restarted.push(await startReplica({ number: replica.number, port: replica.port, redisUrl: cluster.redisUrl, dir: cluster.stateDir, env: replicaEnv }));
        assert.equal((await getHealth(replica.url)).status, 200);
      }

      chatting = false;
      await Promise.all(conversations);
      assert.deepEqual(
        exitCodes,
        cluster.replicas.map(() => 0),
        'each replica drained and exited 0',
      );
      assert.ok(acknowledged.length > 500, `only ${acknowledged.length} messages were sent during the restarts`);
      // Some clients moved more than once: the test only means something if many moved at all.
      const moved = clients.filter((client) => client.welcomes.length > 1).length;
      assert.ok(moved >= CLIENTS / 2, `only ${moved} clients changed replica`);

      for (const [n, client] of clients.entries()) await client.waitForIds(acknowledged, `client ${n} to hold every acknowledged message`, 20_000);
      for (const [n, client] of clients.entries()) assertExactlyOnce(client, acknowledged, `client ${n}`, { moved: true });
    });
  });
}
