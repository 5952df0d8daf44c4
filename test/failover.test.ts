/**
 * Replicas SIGKILLed for real in a cluster behind the real front, nginx and then HAProxy: a client
 * reconnects through the front to a live replica, catches up on what it missed (client/catch-up.ts),
 * and ends up holding every acknowledged message exactly once; the cluster panel and the list of
 * people follow the dead replica out, and back in when it restarts. With the classic adapter
 * through both fronts, and with the sharded one through nginx (the front does not change what the
 * adapter does).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startCluster, type Front, type RunningCluster } from '../lab/cluster/cluster.js';
import type { RedisAdapterKind } from '../server/config.js';
import { assertExactlyOnce, connectChatClient, ListeningClient, WITHOUT_RATE_LIMIT, pollUntil, sendMessage, startReplica, type ChatSocket } from './helpers.js';

// Clear of a user's `npm run cluster` (8080-8089), the e2e suite (18080-) and the other Node tests.
const SETUPS: { front: Front; adapter: RedisAdapterKind; basePort: number }[] = [
  { front: 'nginx', adapter: 'classic', basePort: 28380 },
  { front: 'haproxy', adapter: 'classic', basePort: 28780 },
  { front: 'nginx', adapter: 'sharded', basePort: 28880 },
];
/** The others' pace: a steady conversation. */
const SEND_INTERVAL_MS = 100;

for (const { front, adapter, basePort } of SETUPS)
  describe(`failover through ${front}, with catch-up (${adapter} adapter)`, { timeout: 60_000 }, () => {
    let cluster: RunningCluster;
    const replicaEnv = { ...WITHOUT_RATE_LIMIT, REDIS_ADAPTER: adapter };
    before(async () => {
      cluster = await startCluster({ basePort, front, replicaEnv });
    });
    after(() => cluster?.stop());

    test('a client whose replica is SIGKILLed mid-conversation reconnects elsewhere and holds every message exactly once', async (t) => {
      const victim = await ListeningClient.connect(cluster.url, { localAddress: '127.0.1.1', reconnection: true });
      t.after(() => victim.close());
      const [victimInstance] = victim.welcomes;
      const doomed = cluster.replicas.find((replica) => String(replica.number) === victimInstance);
      assert.ok(doomed, `the client is on instance ${victimInstance}, which the cluster does not list`);

      // Two people on two other replicas, talking the whole time.
      const talkers: ChatSocket[] = [];
      for (const replica of cluster.replicas.filter((r) => r !== doomed).slice(0, 2)) {
        const { socket } = await connectChatClient(replica.url);
        t.after(() => socket.close());
        talkers.push(socket);
      }
      const acked: string[] = [];
      let talking = true;
      const conversation = (async () => {
        for (let n = 0; talking; n++) {
          const result = await sendMessage(talkers[n % talkers.length]!, `failover ${n}`);
          if (result !== 'no answer' && result.ok) acked.push(result.id);
          await delay(SEND_INTERVAL_MS);
        }
      })();

      try {
        await pollUntil(
          async () => acked.length,
          (count) => count >= 5,
          { what: 'the conversation to start' },
        );
        process.kill(doomed.process.pid, 'SIGKILL');
        await pollUntil(
          async () => victim.welcomes.length,
          (count) => count >= 2,
          { what: 'the client to reconnect' },
        );
        const atReconnect = acked.length;
        await pollUntil(
          async () => acked.length,
          (count) => count >= atReconnect + 5,
          { what: 'more messages after the reconnect' },
        );
      } finally {
        talking = false;
        await conversation;
      }

      assert.notEqual(victim.welcomes[1], victimInstance, 'it reconnected to the replica that was killed');
      await victim.waitForIds(acked, 'every message of the conversation on the failed-over client');
      assertExactlyOnce(victim, acked, 'the failed-over client');
    });

    test('a SIGKILLed replica leaves the cluster panel within 15 s, and so do its people, unless they reconnected elsewhere; restarted, it is back', async (t) => {
      // One person through the front, who reconnects elsewhere; one on the replica directly, who cannot.
      const mover = await ListeningClient.connect(cluster.url, { name: 'Mover', localAddress: '127.0.2.1', reconnection: true });
      t.after(() => mover.close());
      const doomedInstance = mover.welcomes[0]!;
      const doomed = cluster.replicas.find((replica) => String(replica.number) === doomedInstance)!;
      const goner = await ListeningClient.connect(doomed.url, { name: 'Goner' });
      t.after(() => goner.close());
      const watcherReplica = cluster.replicas.find((replica) => replica !== doomed && !replica.process.hasExited())!;
      const watcher = await ListeningClient.connect(watcherReplica.url, { name: 'Watcher' });
      t.after(() => watcher.close());

      const listed = () => new Map(watcher.presence?.people.map(([name, ...instances]) => [name, instances.join()]));
      const panel = () => watcher.cluster?.instances.map((instance) => instance.instance) ?? [];
      await pollUntil(
        async () => listed(),
        (people) => people.get('Mover') === doomedInstance && people.get('Goner') === doomedInstance,
        {
          what: 'both people listed on the doomed replica',
        },
      );
      const alive = () => cluster.replicas.filter((replica) => !replica.process.hasExited()).map((replica) => String(replica.number));
      await pollUntil(
        async () => panel().join(),
        (instances) => instances === alive().join(),
        { what: 'the panel to list the live replicas' },
      );

      const killedAt = Date.now();
      process.kill(doomed.process.pid, 'SIGKILL');
      await doomed.process.exited;
      await pollUntil(
        async () => ({ people: listed(), panel: panel() }),
        ({ people, panel }) =>
          panel.join() === alive().join() && !people.has('Goner') && people.has('Mover') && !people.get('Mover')!.split(',').includes(doomedInstance),
        { what: `instance ${doomedInstance} and Goner gone, Mover moved`, timeoutMs: 15_000 },
      );

      const restarted = await startReplica({
        number: doomed.number,
        port: doomed.port,
        redisUrl: cluster.redisUrl,
        dir: cluster.stateDir,
        env: replicaEnv,
      });
      t.after(() => restarted.stop());
      await pollUntil(
        async () => panel(),
        (instances) => instances.includes(doomedInstance),
        { what: `instance ${doomedInstance} back in the panel`, timeoutMs: 15_000 },
      );
      // Mover's tab failed over: that is neither leaving nor joining. Goner, who could not, left.
      await pollUntil(
        async () => watcher.eventsAbout('left', 'Goner').length,
        (count) => count > 0,
        { what: 'Goner leaving', timeoutMs: 15_000 },
      );
      const sinceKill = watcher.events.filter((event) => event.at >= killedAt);
      assert.deepEqual(
        sinceKill.filter((event) => event.name === 'Mover'),
        [],
      );
      assert.deepEqual(
        sinceKill.filter((event) => event.name === 'Goner').map((event) => event.event),
        ['left'],
      );
    });
  });
