import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../server/config.js';

/** Asserts that `env` is refused with a ConfigError naming `variable`, and returns its message. */
function refusal(env: NodeJS.ProcessEnv, variable: string): string {
  let message = '';
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      message = err.message;
      return true;
    },
  );
  assert.match(message, new RegExp(`\\b${variable}\\b`), `the message should name ${variable}`);
  return message;
}

const DEFAULTS = {
  port: 3000,
  instance: 'N/A',
  redisUrl: undefined,
  redisClusterNodes: undefined,
  replication: { replicas: 0, timeoutMs: 1000 },
  redisAdapter: 'classic',
  publicUrl: undefined,
  allowedOrigins: undefined,
  rateLimit: { burst: 10, perSecond: 2 },
  logCapacity: 1000,
  positionIntervalMs: 2000,
  roomLimit: 50,
  heartbeat: { intervalMs: 25_000, timeoutMs: 20_000 },
  presence: { intervalMs: 1000, graceMs: 5000, crowdSpacingMs: 5000, stormArrivalsPerSecond: 25 },
  drain: { spreadMs: 2000, closeGraceMs: 1000 },
  metrics: true,
  features: { redisLog: true, presence: true, guards: true },
};

describe('loadConfig', () => {
  test('defaults: port 3000, instance N/A, no Redis', () => {
    assert.deepEqual(loadConfig({}), DEFAULTS);
  });

  test('an empty variable counts as unset', () => {
    const empty = Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, '']));
    assert.deepEqual(loadConfig(empty), DEFAULTS);
  });

  test('valid values are read', () => {
    const env = {
      PORT: '8081',
      NODE_NUMBER: '7',
      REDIS_URL: 'redis://redis:6379',
      REDIS_ADAPTER: 'sharded',
      REDIS_WAIT_REPLICAS: '2',
      REDIS_WAIT_TIMEOUT_MS: '300',
      PUBLIC_URL: 'http://localhost:8087',
      ALLOWED_ORIGINS: 'https://chat.example.com, http://localhost:8080/',
      RATE_LIMIT_BURST: '20',
      RATE_LIMIT_PER_SECOND: '0.5',
      MESSAGE_LOG_CAPACITY: '50',
      POSITION_INTERVAL_MS: '0',
      ROOM_LIMIT: '5',
      PING_INTERVAL_MS: '500',
      PING_TIMEOUT_MS: '700',
      PRESENCE_INTERVAL_MS: '200',
      PRESENCE_GRACE_MS: '900',
      PRESENCE_CROWD_SPACING_MS: '1500',
      PRESENCE_STORM_ARRIVALS: '40',
      DRAIN_SPREAD_MS: '300',
      DRAIN_CLOSE_GRACE_MS: '400',
      METRICS: 'off',
      MESSAGE_LOG: 'memory',
      PRESENCE: 'off',
      GUARDS: 'off',
    };
    assert.deepEqual(loadConfig(env), {
      port: 8081,
      instance: '7',
      redisUrl: 'redis://redis:6379',
      redisClusterNodes: undefined,
      replication: { replicas: 2, timeoutMs: 300 },
      redisAdapter: 'sharded',
      publicUrl: 'http://localhost:8087',
      allowedOrigins: ['https://chat.example.com', 'http://localhost:8080'],
      rateLimit: { burst: 20, perSecond: 0.5 },
      logCapacity: 50,
      positionIntervalMs: 0,
      roomLimit: 5,
      heartbeat: { intervalMs: 500, timeoutMs: 700 },
      presence: { intervalMs: 200, graceMs: 900, crowdSpacingMs: 1500, stormArrivalsPerSecond: 40 },
      drain: { spreadMs: 300, closeGraceMs: 400 },
      metrics: false,
      features: { redisLog: false, presence: false, guards: false },
    });
    assert.equal(loadConfig({ PORT: '1' }).port, 1);
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
    assert.equal(loadConfig({ NODE_NUMBER: '12' }).instance, '12');
    assert.equal(loadConfig({ REDIS_URL: 'rediss://user:pw@cache.example:6380/0' }).redisUrl, 'rediss://user:pw@cache.example:6380/0');
  });

  test('unrelated variables are ignored', () => {
    assert.deepEqual(loadConfig({ HOME: '/root', PATH: '/usr/bin', CLUSTER_PORT: 'x' }), loadConfig({}));
  });

  for (const port of ['abc', '80a', '-1', '3000.5', '0x50']) {
    test(`PORT=${JSON.stringify(port)} (not a whole number) is refused`, () => {
      refusal({ PORT: port }, 'PORT');
    });
  }

  for (const port of ['0', '65536', '100000']) {
    test(`PORT=${port} (out of range) is refused`, () => {
      refusal({ PORT: port }, 'PORT');
    });
  }

  for (const nodeNumber of ['x', 'chat1', '0', '-1', '1.5']) {
    test(`NODE_NUMBER=${JSON.stringify(nodeNumber)} is refused`, () => {
      refusal({ NODE_NUMBER: nodeNumber }, 'NODE_NUMBER');
    });
  }

  for (const redisUrl of ['not a url', 'localhost:6379', 'redis://', 'http://redis:6379', 'tcp://redis:6379']) {
    test(`REDIS_URL=${JSON.stringify(redisUrl)} is refused`, () => {
      refusal({ REDIS_URL: redisUrl }, 'REDIS_URL');
    });
  }

  test('REDIS_CLUSTER_NODES: a list of node URLs, the sharded adapter, and by default a replica to wait for', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'redis://:pw@10.0.0.1:7001, redis://10.0.0.2:7002', REDIS_ADAPTER: 'sharded' });
    assert.deepEqual(
      [config.redisClusterNodes, config.replication],
      [['redis://:pw@10.0.0.1:7001', 'redis://10.0.0.2:7002'], { replicas: 1, timeoutMs: 1000 }],
    );
    assert.equal(loadConfig({ REDIS_CLUSTER_NODES: 'redis://a:1', REDIS_ADAPTER: 'sharded', REDIS_WAIT_REPLICAS: '0' }).replication.replicas, 0);
  });

  test('REDIS_CLUSTER_NODES: refused beside REDIS_URL, with the classic adapter, or with a node that is not a redis:// URL (not echoed)', () => {
    refusal({ REDIS_CLUSTER_NODES: 'redis://a:1', REDIS_URL: 'redis://b:2', REDIS_ADAPTER: 'sharded' }, 'REDIS_URL and REDIS_CLUSTER_NODES');
    assert.equal(refusal({ REDIS_CLUSTER_NODES: 'redis://a:1' }, 'REDIS_CLUSTER_NODES'), 'REDIS_CLUSTER_NODES needs REDIS_ADAPTER=sharded');
    const message = refusal({ REDIS_CLUSTER_NODES: 'redis://:secret@a:1,a:2', REDIS_ADAPTER: 'sharded' }, 'REDIS_CLUSTER_NODES');
    assert.doesNotMatch(message, /secret/);
  });

  for (const value of ['x', '-1', '1.5']) {
    test(`REDIS_WAIT_REPLICAS=${JSON.stringify(value)} is refused`, () => {
      refusal({ REDIS_WAIT_REPLICAS: value }, 'REDIS_WAIT_REPLICAS');
    });
  }

  for (const publicUrl of ['localhost:8081', 'ftp://example.com', 'http://']) {
    test(`PUBLIC_URL=${JSON.stringify(publicUrl)} is refused`, () => {
      refusal({ PUBLIC_URL: publicUrl }, 'PUBLIC_URL');
    });
  }

  for (const origins of ['chat.example.com', 'https://chat.example.com/path', 'ftp://example.com', 'https://ok.example, nope']) {
    test(`ALLOWED_ORIGINS=${JSON.stringify(origins)} is refused`, () => {
      refusal({ ALLOWED_ORIGINS: origins }, 'ALLOWED_ORIGINS');
    });
  }

  for (const [variable, value] of [
    ['RATE_LIMIT_BURST', '0'],
    ['RATE_LIMIT_BURST', '2.5'],
    ['RATE_LIMIT_BURST', 'lots'],
    ['RATE_LIMIT_PER_SECOND', '-1'],
    ['RATE_LIMIT_PER_SECOND', '0'],
    ['REDIS_ADAPTER', 'cluster'],
    ['REDIS_ADAPTER', 'Sharded'],
    ['MESSAGE_LOG_CAPACITY', '0'],
    ['POSITION_INTERVAL_MS', '-5'],
    ['POSITION_INTERVAL_MS', '1.5'],
    ['PING_INTERVAL_MS', '0'],
    ['PING_TIMEOUT_MS', 'soon'],
    ['PRESENCE_INTERVAL_MS', '0'],
    ['PRESENCE_GRACE_MS', 'a while'],
    ['METRICS', 'yes'],
    ['MESSAGE_LOG', 'none'],
    ['PRESENCE', 'no'],
    ['GUARDS', 'false'],
  ] as const) {
    test(`${variable}=${JSON.stringify(value)} is refused`, () => {
      refusal({ [variable]: value }, variable);
    });
  }

  test("a refused REDIS_URL's value is not echoed: it may carry a password", () => {
    for (const redisUrl of ['http://admin:s3cret-pw@redis:6379', 'redis//admin:s3cret-pw@redis']) {
      const message = refusal({ REDIS_URL: redisUrl }, 'REDIS_URL');
      assert.doesNotMatch(message, /s3cret-pw/);
    }
  });

  test('a REDIS_URL broken by its password says which characters break a URL, without echoing it', () => {
    const message = refusal({ REDIS_URL: 'redis://:s3cret/pw@redis:6379' }, 'REDIS_URL');
    assert.match(message, /\/, \? or #/);
    assert.doesNotMatch(message, /s3cret/);
  });

  test("the README's password recipe (openssl rand -hex 24) always makes a REDIS_URL that parses", () => {
    const password = randomBytes(24).toString('hex');
    assert.equal(loadConfig({ REDIS_URL: `redis://:${password}@redis:6379` }).redisUrl, `redis://:${password}@redis:6379`);
  });

  test('the message names the bad variable, not a good one beside it', () => {
    const message = refusal({ PORT: '8081', NODE_NUMBER: 'x', REDIS_URL: 'redis://redis:6379' }, 'NODE_NUMBER');
    assert.doesNotMatch(message, /\bPORT\b|\bREDIS_URL\b/);
  });
});
