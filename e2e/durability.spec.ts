/**
 * The outbox and the message log in a real browser, with Redis killed for real. This spec runs a
 * cluster of its own, so that stopping its Redis disturbs no other spec.
 */
import type { ChildService } from '../lab/cluster/child-process.js';
import { startCluster, startRedis, type RunningCluster } from '../lab/cluster/cluster.js';
import { parseClusterPort } from '../lab/cluster/topology.js';
import { expect, test, uniqueText } from './fixtures.js';

const BASE_PORT = parseClusterPort(process.env.E2E_DURABILITY_PORT ?? '18100');

test.describe('messages survive a Redis outage', () => {
  let cluster: RunningCluster;
  /** The Redis running now: the cluster's, or the one a test started in its place. */
  let redis: ChildService;

  test.beforeAll(async () => {
    cluster = await startCluster({ basePort: BASE_PORT });
    redis = cluster.redis!; // one redis-server: no Redis Cluster asked for
  });
  test.afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  const replicaUrl = (number: number) => cluster.replicas.find((replica) => replica.number === number)!.url;

  test('a message typed while Redis is down shows as pending, then reaches the other tab once Redis is back, exactly once, without retyping', async ({
    openChat,
  }) => {
    const writer = await openChat({ url: replicaUrl(1) });
    const reader = await openChat({ url: replicaUrl(3) });
    await writer.connected();
    await reader.connected();

    process.kill(redis.pid, 'SIGKILL');
    await redis.exited;
    const text = uniqueText('typed during the outage');
    await writer.send(text);
    // Shown at once, as not sent yet, with the reason; nowhere in the log-backed list.
    await expect(writer.unsent(text)).toHaveAttribute('data-state', 'pending');
    await expect(writer.unsent(text)).toContainText('Redis');
    await expect(writer.message(text)).toHaveCount(0);

    redis = await startRedis({ port: cluster.ports.redis, dir: cluster.stateDir, name: 'redis-restarted', password: cluster.redisPassword });

    // The outbox retries by itself; the message arrives in both tabs, once.
    await reader.expectMessage(text, '1');
    await writer.expectMessage(text, '1');
    await expect(writer.unsent(text)).toHaveCount(0);
    for (const tab of [writer, reader]) await expect(tab.message(text)).toHaveCount(1);
  });

  test('a tab reloaded after a conversation shows the history, in order', async ({ openChat }) => {
    const [left, right] = [await openChat({ url: replicaUrl(2) }), await openChat({ url: replicaUrl(4) })];
    await left.connected();
    await right.connected();
    const said = [uniqueText('first'), uniqueText('second'), uniqueText('third'), uniqueText('fourth')];
    for (const [index, text] of said.entries()) {
      const tab = index % 2 === 0 ? left : right;
      await tab.send(text);
      await tab.expectMessage(text, index % 2 === 0 ? '2' : '4');
    }

    await right.page.reload();
    await right.connected();
    for (const text of said) await expect(right.message(text)).toHaveCount(1);
    const shown = await right.messages.allTextContents();
    const positions = said.map((text) => shown.findIndex((line) => line.includes(text)));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });
});
