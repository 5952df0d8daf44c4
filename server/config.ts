import { z } from 'zod';
import type { PresenceTimings } from './chat/presence.js';

/** Everything the server reads from its environment, parsed and validated here and nowhere else. */
export interface Config {
  /** TCP port the HTTP and Socket.IO server listens on. */
  port: number;
  /** This replica's name, shown in the page and stamped on every message it accepts. */
  instance: string;
  /** Where the Redis adapter connects; undefined runs a single node with the in-memory adapter. */
  redisUrl: string | undefined;
  /**
   * Instead of one Redis, a Redis Cluster: some of its nodes (`redis://[:password@]host:port`), from
   * which node-redis learns the rest. Needs the sharded adapter.
   */
  redisClusterNodes: string[] | undefined;
  /**
   * Before a message is acknowledged, this many Redis replicas must have it (WAIT), within
   * `timeoutMs`; otherwise the sender is told to send it again. 0: the primary's word is enough.
   */
  replication: { replicas: number; timeoutMs: number };
  /** Which Redis adapter: `classic` pub/sub (PUBLISH) or `sharded` pub/sub (Redis 7's SPUBLISH). */
  redisAdapter: RedisAdapterKind;
  /** Where users can open this replica directly, for the page's cluster panel; optional. */
  publicUrl: string | undefined;
  /**
   * Origins whose pages may connect (the browser's `Origin` header). Undefined: only pages served
   * by this same host, whatever the port of the proxy in front.
   */
  allowedOrigins: string[] | undefined;
  /** Each connection's token bucket: events it may send at once, and refilled per second. */
  rateLimit: { burst: number; perSecond: number };
  /** Messages the log keeps (at least); older ones are trimmed, and a client that needs them is told. */
  logCapacity: number;
  /**
   * How often each replica tells its clients the log's newest id, so that one whose live copy of
   * the last message was lost notices (server/chat/delivery.ts). 0 turns it off, for the benchmark.
   */
  positionIntervalMs: number;
  /** How many rooms there may be, cluster-wide, the default room included. */
  roomLimit: number;
  /** Socket.IO's heartbeat: a ping every `intervalMs`; no pong within `timeoutMs` closes the connection. */
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** How presence keeps time (server/chat/presence.ts: PresenceTimings). */
  presence: PresenceTimings;
  /**
   * A graceful stop (server/guards/drain.ts): its connections are closed in batches over
   * `spreadMs`, so that their clients move to other replicas as a trickle; then `io.close()` waits
   * for every connection to end. A client that stopped reading (a frozen process, a full socket
   * buffer) never answers the WebSocket close, and `ws` would give it 30 s, longer than a stop may
   * take: WebSockets still open after `closeGraceMs` are cut (only those: cutting every connection
   * made the rolling-restart test lose messages, on the message path before server/chat/delivery.ts).
   */
  drain: { spreadMs: number; closeGraceMs: number };
  /** Whether it counts and serves Prometheus metrics at /metrics (METRICS=off: the benchmark's baseline). */
  metrics: boolean;
  /**
   * Benchmark switches, all on by default: `npm run bench` measures what each feature costs by
   * turning it off (docs/performance.md). `redisLog: false` keeps each room's log in this
   * replica's memory even with Redis (the cluster then loses the delivery guarantee across
   * replicas); `presence: false` starts no presence; `guards: false` applies no rate limit and no
   * slow-reader guard to connections.
   */
  features: { redisLog: boolean; presence: boolean; guards: boolean };
}

export const REDIS_ADAPTER_KINDS = ['classic', 'sharded'] as const;
export type RedisAdapterKind = (typeof REDIS_ADAPTER_KINDS)[number];

/** A bad environment variable: the message names it and says what was expected. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

// An empty variable (`PORT=`) counts as unset, as a shell user would expect.
const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

/** A variable holding a positive number (whole if `whole`), with a default. */
function positiveNumber(fallback: number, options: { whole: boolean }) {
  return z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(options.whole ? /^\d+$/ : /^\d+(\.\d+)?$/, options.whole ? 'must be a whole number' : 'must be a number')
      .transform(Number)
      .pipe(z.number().positive('must be more than 0'))
      .default(fallback),
  );
}

/** A variable holding a whole number of milliseconds, 0 or more, with a default. */
function milliseconds(fallback: number) {
  return z.preprocess(unsetIfEmpty, z.string().regex(/^\d+$/, 'must be a whole number of milliseconds').transform(Number).default(fallback));
}

/** A variable that is `on` (the default) or `off`. */
const onOff = () => z.preprocess(unsetIfEmpty, z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'));

/** "https://chat.example.com, http://localhost:8080": scheme, host and port, nothing more. */
const originListSchema = z.string().transform((value, context) => {
  const origins = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      // reported below
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      context.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of origins such as https://chat.example.com; ${JSON.stringify(origin)} is not one`,
      });
      return z.NEVER;
    }
  }
  return origins.map((origin) => new URL(origin).origin);
});

const envSchema = z.object({
  PORT: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(1, 'must be 1-65535').max(65535, 'must be 1-65535'))
      .default(3000),
  ),
  NODE_NUMBER: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^[1-9]\d{0,3}$/, 'must be a positive whole number')
      .default('N/A'),
  ),
  // The value is never echoed (it may hold a password), so the message names what usually breaks it.
  REDIS_URL: z.preprocess(
    unsetIfEmpty,
    z
      .url({
        protocol: /^rediss?$/,
        hostname: /./,
        error: 'must be a redis://[:password@]host[:port] or rediss://… URL; a password containing /, ? or # breaks the URL unless percent-encoded',
      })
      .optional(),
  ),
  REDIS_CLUSTER_NODES: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .transform((value) => value.split(',').map((node) => node.trim()))
      .pipe(z.array(z.url({ protocol: /^rediss?$/, hostname: /./, error: 'must be a comma-separated list of redis://host:port URLs' })).min(1))
      .optional(),
  ),
  // Unset: 1 with a Redis Cluster (each primary has a replica), 0 with one Redis (it has none).
  REDIS_WAIT_REPLICAS: z.preprocess(unsetIfEmpty, z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).optional()),
  REDIS_WAIT_TIMEOUT_MS: positiveNumber(1000, { whole: true }),
  REDIS_ADAPTER: z.preprocess(unsetIfEmpty, z.enum(REDIS_ADAPTER_KINDS, { error: 'must be classic or sharded' }).default('classic')),
  PUBLIC_URL: z.preprocess(unsetIfEmpty, z.url({ protocol: /^https?$/, hostname: /./, error: 'must be an http:// or https:// URL' }).optional()),
  ALLOWED_ORIGINS: z.preprocess(unsetIfEmpty, originListSchema.optional()),
  RATE_LIMIT_BURST: positiveNumber(10, { whole: true }),
  RATE_LIMIT_PER_SECOND: positiveNumber(2, { whole: false }),
  MESSAGE_LOG_CAPACITY: positiveNumber(1000, { whole: true }),
  POSITION_INTERVAL_MS: milliseconds(2000),
  ROOM_LIMIT: positiveNumber(50, { whole: true }),
  // Socket.IO's defaults. Their sum must stay below the front's idle timeout (nginx proxy_read_timeout).
  PING_INTERVAL_MS: positiveNumber(25_000, { whole: true }),
  PING_TIMEOUT_MS: positiveNumber(20_000, { whole: true }),
  PRESENCE_INTERVAL_MS: positiveNumber(1000, { whole: true }),
  PRESENCE_GRACE_MS: positiveNumber(5000, { whole: true }),
  PRESENCE_CROWD_SPACING_MS: positiveNumber(5000, { whole: true }),
  PRESENCE_STORM_ARRIVALS: positiveNumber(25, { whole: true }),
  DRAIN_SPREAD_MS: positiveNumber(2000, { whole: true }),
  DRAIN_CLOSE_GRACE_MS: positiveNumber(1000, { whole: true }),
  METRICS: onOff(),
  MESSAGE_LOG: z.preprocess(unsetIfEmpty, z.enum(['redis', 'memory'], { error: 'must be redis or memory' }).default('redis')),
  PRESENCE: onOff(),
  GUARDS: onOff(),
});

/** Every environment variable the server reads. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

/**
 * Reads the server's configuration from environment variables.
 * @throws ConfigError naming the first bad variable and the value it had.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    // REDIS_URL and REDIS_CLUSTER_NODES may carry a password, so their values are not echoed.
    const got = name.startsWith('REDIS_URL') || name === 'REDIS_CLUSTER_NODES' ? '' : ` (got ${JSON.stringify(env[name])})`;
    throw new ConfigError(`${name} ${issue.message}${got}`);
  }
  const values = result.data;
  if (values.REDIS_CLUSTER_NODES && values.REDIS_URL)
    throw new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are both set: one Redis, or a Redis Cluster, not both');
  // A Redis Cluster copies every PUBLISH to every node: the classic adapter would gain nothing from its shards.
  if (values.REDIS_CLUSTER_NODES && values.REDIS_ADAPTER !== 'sharded') throw new ConfigError('REDIS_CLUSTER_NODES needs REDIS_ADAPTER=sharded');
  return {
    port: values.PORT,
    instance: values.NODE_NUMBER,
    redisUrl: values.REDIS_URL,
    redisClusterNodes: values.REDIS_CLUSTER_NODES,
    replication: { replicas: values.REDIS_WAIT_REPLICAS ?? (values.REDIS_CLUSTER_NODES ? 1 : 0), timeoutMs: values.REDIS_WAIT_TIMEOUT_MS },
    redisAdapter: values.REDIS_ADAPTER,
    publicUrl: values.PUBLIC_URL,
    allowedOrigins: values.ALLOWED_ORIGINS,
    rateLimit: { burst: values.RATE_LIMIT_BURST, perSecond: values.RATE_LIMIT_PER_SECOND },
    logCapacity: values.MESSAGE_LOG_CAPACITY,
    positionIntervalMs: values.POSITION_INTERVAL_MS,
    roomLimit: values.ROOM_LIMIT,
    heartbeat: { intervalMs: values.PING_INTERVAL_MS, timeoutMs: values.PING_TIMEOUT_MS },
    presence: {
      intervalMs: values.PRESENCE_INTERVAL_MS,
      graceMs: values.PRESENCE_GRACE_MS,
      crowdSpacingMs: values.PRESENCE_CROWD_SPACING_MS,
      stormArrivalsPerSecond: values.PRESENCE_STORM_ARRIVALS,
    },
    drain: { spreadMs: values.DRAIN_SPREAD_MS, closeGraceMs: values.DRAIN_CLOSE_GRACE_MS },
    metrics: values.METRICS === 'on',
    features: { redisLog: values.MESSAGE_LOG === 'redis', presence: values.PRESENCE === 'on', guards: values.GUARDS === 'on' },
  };
}
