import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Response } from '@playwright/test';
import type { ChildService } from '../lab/cluster/child-process.js';
import { startNginx } from '../lab/cluster/cluster.js';
import { withoutStickySessions } from '../test/fixtures/nginx-variants.js';
import { clusterPorts, NGINX_CONF_PATH } from '../lab/cluster/topology.js';
import { clientAddress, expect, test, uniqueText } from './fixtures.js';

/** Long-polling round trips a session must survive: each message is one POST up and one GET down. */
const ROUND_TRIPS = 20;

function isPolling(response: Response): boolean {
  const url = new URL(response.url());
  return url.pathname === '/socket.io/' && url.searchParams.get('transport') === 'polling';
}

test.describe('long-polling through nginx', () => {
  let roundRobinNginx: ChildService | undefined;
  let roundRobinUrl: string;

  test.beforeAll(async ({ stack }) => {
    // Test only: the real nginx.conf with ip_hash removed, so nginx spreads requests round-robin.
    const ports = { ...clusterPorts(stack.basePort), front: stack.basePort + 7 };
    roundRobinNginx = await startNginx({
      name: 'nginx-round-robin',
      conf: withoutStickySessions(readFileSync(NGINX_CONF_PATH, 'utf8')),
      ports,
      prefix: join(stack.stateDir, 'nginx-round-robin'),
    });
    roundRobinUrl = `http://127.0.0.1:${ports.front}`;
  });

  test.afterAll(async () => {
    await roundRobinNginx?.stop();
  });

  test(`with ip_hash, a polling client keeps one session for ${ROUND_TRIPS} round trips`, async ({ stack, openChat }) => {
    const polling: { sessionId: string | null; status: number }[] = [];
    const chat = await openChat({
      url: stack.url,
      from: clientAddress(1),
      path: '/?transport=polling',
      beforeLoad: (page) =>
        page.on('response', (response) => {
          if (isPolling(response)) polling.push({ sessionId: new URL(response.url()).searchParams.get('sid'), status: response.status() });
        }),
    });
    const { instance, transport } = await chat.connected();
    expect(transport).toBe('polling');

    for (let trip = 1; trip <= ROUND_TRIPS; trip++) {
      const text = uniqueText(`round trip ${trip}`);
      await chat.send(text);
      await chat.expectMessage(text, instance);
    }

    const withSession = polling.filter((request) => request.sessionId !== null);
    expect(polling.filter((request) => request.status !== 200)).toEqual([]);
    expect(withSession.length).toBeGreaterThanOrEqual(2 * ROUND_TRIPS);
    expect(new Set(withSession.map((request) => request.sessionId)).size).toBe(1);
    await expect(chat.connection).toHaveAttribute('data-state', 'connected');
  });

  test('without ip_hash (round-robin), the same client fails with 400 "Session ID unknown"', async ({ openChat }) => {
    let rejected: Promise<Response> | undefined;
    await openChat({
      url: roundRobinUrl,
      from: clientAddress(1),
      path: '/?transport=polling',
      beforeLoad: (page) => {
        rejected = page.waitForResponse((response) => isPolling(response) && response.status() === 400);
      },
    });
    expect(await (await rejected!).json()).toEqual({ code: 1, message: 'Session ID unknown' });
  });
});
