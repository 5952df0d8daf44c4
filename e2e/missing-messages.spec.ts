/**
 * A tab that was away longer than the message log remembers says so, rather than pretend it holds
 * everything. Its own Redis and two replicas, the log kept short (MESSAGE_LOG_CAPACITY) and the
 * heartbeat short, so that a paused replica's tab notices quickly.
 */
import { rmSync } from 'node:fs';
import type { ChildService } from '../lab/cluster/child-process.js';
import { redisUrlFor, startRedis, startReplica, WITHOUT_RATE_LIMIT } from '../lab/cluster/cluster.js';
import { clusterPorts, parseClusterPort } from '../lab/cluster/topology.js';
import { connectChatClient, makeTempDir, sendMessage } from '../test/helpers.js';
import { expect, test, uniqueText } from './fixtures.js';

const PORTS = clusterPorts(parseClusterPort(process.env.E2E_MISSING_PORT ?? '18200'));
/** Redis trims its stream in whole nodes of 100 entries: past 250 messages, the oldest are gone. */
const SENT_WHILE_AWAY = 250;

test.describe('a tab away longer than the log remembers', () => {
  const services: ChildService[] = [];
  let dir: string;
  const url = (number: number) => `http://127.0.0.1:${PORTS.replica(number)}`;

  test.beforeAll(async () => {
    dir = makeTempDir('e2e-missing');
    services.push(await startRedis({ port: PORTS.redis, dir }));
    const env = { ...WITHOUT_RATE_LIMIT, MESSAGE_LOG_CAPACITY: '20', PING_INTERVAL_MS: '500', PING_TIMEOUT_MS: '500' };
    for (const number of [1, 2]) {
      services.push(await startReplica({ number, port: PORTS.replica(number), redisUrl: redisUrlFor(PORTS.redis), dir, env }));
    }
  });
  test.afterAll(async () => {
    for (const service of services.reverse()) {
      if (!service.hasExited()) process.kill(service.pid, 'SIGCONT');
      await service.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('says that older messages are no longer available, and shows the newest', async ({ openChat }) => {
    test.setTimeout(60_000);
    const tab = await openChat({ url: url(1) });
    await tab.connected();
    const { socket } = await connectChatClient(url(2));
    try {
      const before = uniqueText('before the tab went away');
      await sendMessage(socket, before);
      await tab.expectMessage(before, '2');
      await expect(tab.page.locator('[data-notice="missing"]')).toHaveCount(0);

      // The tab's replica stops; the tab gives up on it while the others talk on.
      const replica1 = services[1]!;
      process.kill(replica1.pid, 'SIGSTOP');
      let last = '';
      try {
        await expect(tab.connection).toHaveAttribute('data-state', 'disconnected');
        for (let n = 0; n < SENT_WHILE_AWAY; n++) {
          last = uniqueText(`while the tab was away ${n}`);
          const result = await sendMessage(socket, last);
          expect(result !== 'no answer' && result.ok).toBe(true);
        }
      } finally {
        process.kill(replica1.pid, 'SIGCONT');
      }

      await expect(tab.connection).toHaveAttribute('data-state', 'connected', { timeout: 20_000 });
      await tab.expectMessage(last, '2');
      await expect(tab.page.locator('[data-notice="missing"]')).toHaveText('Some older messages are no longer available.');
    } finally {
      socket.close();
    }
  });
});
