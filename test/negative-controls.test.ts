/**
 * "What breaks if you remove it": each piece of config the README explains, taken out of a real
 * running system, and the failure it causes, next to the real config that does not fail. (Without
 * ip_hash, polling gets 400 "Session ID unknown": e2e/stickiness.spec.ts shows that one in a browser.)
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { startService, waitUntilReady, type ChildService } from '../lab/cluster/child-process.js';
import { startCluster, startNginx, type RunningCluster } from '../lab/cluster/cluster.js';
import { NGINX_CONF_PATH, PROJECT_ROOT } from '../lab/cluster/topology.js';
import { withoutUpgradeHeaders, withProxyReadTimeout } from './fixtures/nginx-variants.js';
import {
  assertOnlyBrokenFrontCutsIdleClients,
  connectChatClient,
  envWithoutChatConfig,
  EVENT_TIMEOUT_MS,
  freePort,
  makeTempDir,
  nextChatMessage,
  pollUntil,
  sendMessage,
  startRedis,
  startReplica,
  untyped,
  withTimeout,
  type ChatSocket,
} from './helpers.js';

const BASE_PORT = 28680;
const realConf = readFileSync(NGINX_CONF_PATH, 'utf8');

let cluster: RunningCluster;
const variants: ChildService[] = [];

before(async () => {
  cluster = await startCluster({ basePort: BASE_PORT });
});

after(async () => {
  for (const nginx of variants) await nginx.stop();
  await cluster?.stop();
});

/** nginx on `port`, running `conf` in front of the cluster's replicas. */
async function startVariant(name: string, conf: string, port: number): Promise<string> {
  const nginx = await startNginx({ name, conf, ports: { ...cluster.ports, front: port }, prefix: join(cluster.stateDir, name) });
  variants.push(nginx);
  return `http://127.0.0.1:${port}`;
}

/** Connects the way a browser does (polling, then the upgrade) and says which transport it ends on. */
async function transportAfterUpgradeAttempt(url: string): Promise<string> {
  const socket: ChatSocket = io(url, { reconnection: false, forceNew: true });
  try {
    return await withTimeout(
      new Promise<string>((resolve) => {
        socket.io.on('open', () => {
          socket.io.engine.once('upgrade', () => resolve(socket.io.engine.transport.name));
          socket.io.engine.once('upgradeError', () => resolve(socket.io.engine.transport.name));
        });
      }),
      EVENT_TIMEOUT_MS,
      `the upgrade through ${url} to succeed or fail`,
    );
  } finally {
    socket.close();
  }
}

test('without the Upgrade and Connection headers, clients never leave long-polling', async () => {
  const brokenUrl = await startVariant('nginx-no-upgrade', withoutUpgradeHeaders(realConf), BASE_PORT - 1);
  assert.equal(await transportAfterUpgradeAttempt(cluster.url), 'websocket', 'the real config upgrades');
  assert.equal(await transportAfterUpgradeAttempt(brokenUrl), 'polling');
});

test('with proxy_read_timeout below pingInterval + pingTimeout (45 s), nginx drops idle clients', async () => {
  const TIMEOUT_S = 2;
  const brokenUrl = await startVariant('nginx-short-read-timeout', withProxyReadTimeout(realConf, TIMEOUT_S), BASE_PORT - 2);
  await assertOnlyBrokenFrontCutsIdleClients({ realUrl: cluster.url, brokenUrl, timeoutS: TIMEOUT_S, front: 'nginx' });
});

describe('without the Redis adapter, a message stays on its own replica', () => {
  let dir: string;
  const lone: { service: ChildService; url: string }[] = [];

  before(async () => {
    dir = makeTempDir('no-adapter');
    for (const number of [1, 2]) {
      const port = await freePort();
      lone.push({ service: await startReplica({ number, port, dir }), url: `http://127.0.0.1:${port}` });
    }
  });

  after(async () => {
    for (const { service } of lone) await service.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('two replicas without REDIS_URL, next to two with it', async () => {
    const pairs: [sender: string, listener: string, crosses: boolean][] = [
      [cluster.replicas[0]!.url, cluster.replicas[1]!.url, true],
      [lone[0]!.url, lone[1]!.url, false],
    ];
    for (const [sender, listener, crosses] of pairs) {
      const from = await connectChatClient(sender);
      const to = await connectChatClient(listener);
      try {
        const onSender = nextChatMessage(from.socket, 'the message on its own replica');
        const onListener = nextChatMessage(to.socket, 'the message on the other replica').then(
          () => true,
          () => false,
        );
        const result = await sendMessage(from.socket, `crosses: ${crosses}`);
        assert.equal(result !== 'no answer' && result.ok, true);
        await onSender;
        assert.equal(await onListener, crosses, crosses ? 'with the adapter, it crosses' : 'without it, it does not');
      } finally {
        from.socket.close();
        to.socket.close();
      }
    }
  });
});

describe('the adapter wired as its quick start shows it dies with Redis (what server/redis/redis-adapter.ts handles)', { timeout: 60_000 }, () => {
  let dir: string;

  before(() => {
    dir = makeTempDir('naive');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  async function startNaive(): Promise<{ redis: ChildService; replica: ChildService; url: string }> {
    const redisPort = await freePort();
    const redis = await startRedis({ port: redisPort, dir, name: 'redis-naive' });
    const port = await freePort();
    const replica = startService('naive replica', process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'test', 'fixtures', 'naive-replica.ts')], {
      logFile: join(dir, 'naive-replica.log'),
      env: { ...envWithoutChatConfig(), PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}` },
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(replica, async () => (await fetch(url)).ok);
    return { redis, replica, url };
  }

  // The real replica, under the same fault, refuses the message and lives on: test/durability.test.ts.
  test('the publish unhandled: the first message during an outage kills the process', async () => {
    const { redis, replica, url } = await startNaive();
    const socket: ChatSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      await withTimeout(new Promise((resolve) => socket.once('connect', () => resolve(undefined))), EVENT_TIMEOUT_MS, 'a connection');
      process.kill(redis.pid, 'SIGKILL');
      // Its error listener reports the lost connection, and it lives on while nothing is sent.
      await pollUntil(
        async () => readFileSync(replica.logFile, 'utf8'),
        (log) => log.includes('redis:'),
        { what: 'the error listener to report' },
      );
      assert.equal(replica.hasExited(), false);
      untyped(socket).emit('chat message', { text: 'during the outage' });
      const exit = await withTimeout(replica.exited, 15_000, 'the naive replica to die');
      assert.notEqual(exit, 0);
      assert.match(readFileSync(replica.logFile, 'utf8'), /TimeoutError/);
    } finally {
      socket.close();
      await replica.stop();
      await redis.stop();
    }
  });
});
