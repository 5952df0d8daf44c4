/**
 * HAProxy as the front, in real browsers: started here in front of the suite's replicas, from the
 * real haproxy/haproxy.cfg. Cookie stickiness spreads two browsers from one address (one office
 * behind one NAT) over two replicas, where ip_hash would put both on one, and keeps each on its
 * replica for the whole session.
 */
import { readFileSync } from 'node:fs';
import type { Response } from '@playwright/test';
import type { ChildService } from '../lab/cluster/child-process.js';
import { startHaproxy } from '../lab/cluster/cluster.js';
import { HAPROXY_CFG_PATH } from '../lab/cluster/haproxy-conf.js';
import { clusterPorts } from '../lab/cluster/topology.js';
import { clientAddress, expect, test, uniqueText } from './fixtures.js';

const ROUND_TRIPS = 8;

let haproxy: ChildService | undefined;
let haproxyUrl: string;

test.beforeAll(async ({ stack }) => {
  const ports = { ...clusterPorts(stack.basePort), front: stack.basePort + 8 };
  haproxy = await startHaproxy({ cfg: readFileSync(HAPROXY_CFG_PATH, 'utf8'), ports, dir: stack.stateDir });
  haproxyUrl = `http://127.0.0.1:${ports.front}`;
});

test.afterAll(async () => {
  await haproxy?.stop();
});

test('two browsers from one address get two replicas, and each keeps its own for the whole session', async ({ openChat }) => {
  const sessions = [0, 1].map(() => [] as { sessionId: string | null; status: number }[]);
  const record = (index: number) => (response: Response) => {
    const url = new URL(response.url());
    if (url.pathname === '/socket.io/') sessions[index]!.push({ sessionId: url.searchParams.get('sid'), status: response.status() });
  };
  // Long-polling only, where every request must reach the session's replica.
  const tabs = [
    await openChat({ url: haproxyUrl, from: clientAddress(9), path: '/?transport=polling', beforeLoad: (page) => page.on('response', record(0)) }),
    await openChat({ url: haproxyUrl, from: clientAddress(9), path: '/?transport=polling', beforeLoad: (page) => page.on('response', record(1)) }),
  ];
  const instances = [];
  for (const tab of tabs) instances.push((await tab.connected()).instance);
  expect(instances[0]).not.toBe(instances[1]);

  for (let trip = 1; trip <= ROUND_TRIPS; trip++) {
    for (const [index, tab] of tabs.entries()) {
      const text = uniqueText(`tab ${index}, round trip ${trip}`);
      await tab.send(text);
      // Both tabs see it, each on its own replica: it crossed through Redis.
      for (const reader of tabs) await reader.expectMessage(text, instances[index]!);
    }
  }

  for (const [index, tab] of tabs.entries()) {
    await expect(tab.connection).toHaveAttribute('data-instance', instances[index]!);
    const requests = sessions[index]!;
    expect(requests.filter((request) => request.status !== 200)).toEqual([]);
    expect(new Set(requests.filter((request) => request.sessionId !== null).map((request) => request.sessionId)).size).toBe(1);
  }
});
