/**
 * The Redis adapter. Socket.IO's docs wire it in four lines:
 *
 *     const pubClient = createClient({ url });
 *     const subClient = pubClient.duplicate();
 *     await Promise.all([pubClient.connect(), subClient.connect()]);
 *     io.adapter(createAdapter(pubClient, subClient));
 *
 * `connectRedis` below is those four lines (marked [1] to [4]) and what a replica that must outlive
 * a Redis outage adds to them:
 * - no offline queue and a bounded command queue: a message is stored now or refused now;
 * - an 'error' listener on both clients: without one, the first lost connection ends the process;
 * - wrong credentials refused at start-up with a clear error, instead of retried for ever;
 * - the adapter's dropped promises caught: an unhandled rejection would end the process too;
 * - a health check, and a close for the graceful stop.
 */
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { createClient, ErrorReply, type RedisClientType } from 'redis';
import type { RedisAdapterKind } from '../config.js';
import type { ChatMetrics, RedisOperation } from '../metrics.js';
import { reportOutages } from './redis-outages.js';
import { answeredInTime } from './redis-timeout.js';

/**
 * Commands written and not yet answered, at most. While Redis is connected but frozen, further
 * commands fail at once instead of piling up in memory.
 */
const MAX_PENDING_COMMANDS = 10_000;

interface RedisConnection {
  /** The connection for ordinary commands (the message log, health checks). */
  commands: RedisClientType;
  /** Pass to Socket.IO's `adapter` option: broadcasts then reach clients of every replica. */
  adapter: ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;
  /** Whether Redis answers a PING in time and the subscriber is subscribed. */
  isHealthy(): Promise<boolean>;
  /** Closes both connections. Call after `io.close()`, which stops the adapter using them. */
  close(): Promise<void>;
}

/**
 * Connects the two Redis clients the adapter needs and resolves once both are ready, so the
 * replica never accepts a client it could not broadcast for. While Redis is unreachable, node-redis
 * keeps retrying (and this promise keeps waiting); the first failure is logged (server/redis/redis-outages.ts).
 */
export async function connectRedis(url: string, adapterKind: RedisAdapterKind, logger: Logger, metrics: ChatMetrics): Promise<RedisConnection> {
  // [1] The publisher, which also runs every other command (the message log, presence).
  const commands: RedisClientType = createClient({
    url,
    // node-redis would otherwise queue commands while disconnected and run them on reconnect,
    // however late. A chat message must be stored now or refused now, so fail at once instead.
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_PENDING_COMMANDS,
  });
  // [2] A connection in subscriber mode can run no other command, so subscribing needs a second one.
  const subscriber = commands.duplicate();

  // Without an 'error' listener, the first lost connection crashes the process (node-redis 6.3.1
  // emits 'error', which Node throws when nobody listens). With one, node-redis reconnects by
  // itself, and subscribes again to the adapter's channels before it reports 'ready'.
  reportOutages(commands, 'commands', logger, metrics);
  reportOutages(subscriber, 'subscriber', logger, metrics);

  logger.info('connecting to Redis at %s', redactPassword(url));
  // [3]
  await connectOrRefuseCredentials([commands, subscriber]);

  return {
    commands,
    // [4] server/server.ts passes it to `new Server(…, { adapter })`.
    adapter: createRedisAdapter(adapterKind, commands, subscriber, logger, metrics),
    isHealthy: async () => {
      if (!subscriber.isReady) return false;
      try {
        return (await metrics.redis('ping', answeredInTime(commands.ping()))) === 'PONG';
      } catch {
        return false;
      }
    },
    close: async () => {
      await Promise.all([commands.close(), subscriber.close()]);
    },
  };
}

/**
 * The classic adapter publishes every broadcast with PUBLISH, which a Redis Cluster copies to every
 * node. The sharded one (Redis 7's SPUBLISH/SSUBSCRIBE) sends each channel to one shard only: the
 * same on a single Redis, and the one to pick for a Redis Cluster. docs/performance.md
 * compares the two on one Redis.
 */
function createRedisAdapter(kind: RedisAdapterKind, publisher: RedisClientType, subscriber: RedisClientType, logger: Logger, metrics: ChatMetrics) {
  const publishes = { operation: 'publish', metrics } as const;
  if (kind === 'sharded') {
    return createShardedAdapter(
      withDroppedPromisesReported(publisher, ['sPublish'], logger, publishes),
      withDroppedPromisesReported(subscriber, ['sSubscribe', 'sUnsubscribe'], logger),
    );
  }
  return createAdapter(
    withDroppedPromisesReported(publisher, ['publish'], logger, publishes),
    withDroppedPromisesReported(subscriber, ['pSubscribe', 'subscribe', 'pUnsubscribe', 'unsubscribe'], logger),
  );
}

/**
 * @socket.io/redis-adapter 8.3.0 calls `pubClient.publish()` (and, on the subscriber, the
 * (un)subscribe methods; the sharded adapter their `s` versions) and drops the promise each
 * returns. While Redis is down, those promises reject, and an unhandled rejection ends a Node
 * process: every replica that broadcast during an outage would exit. The adapter is given a view
 * of each client whose `methods` report their failure instead. A publish lost this way loses no
 * chat message: clients fill the gap from the message log (server/chat/delivery.ts). With `timed`,
 * each call is timed as that operation.
 */
function withDroppedPromisesReported(
  client: RedisClientType,
  methods: string[],
  logger: Logger,
  timed?: { operation: RedisOperation; metrics: ChatMetrics },
): RedisClientType {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !methods.includes(property) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const sent = value.apply(receiver, args) as Promise<unknown>;
        // Expected while Redis is down: the reason, no stack trace.
        return (timed ? timed.metrics.redis(timed.operation, sent) : sent).catch((err: Error) => {
          logger.warn({ command: property, reason: err.message }, 'redis: %s failed', property);
        });
      };
    },
  });
}

/**
 * Connects `clients`. node-redis retries every failure, a refused password included; at start-up,
 * wrong credentials are a configuration error, so they end the attempt with a clear one instead.
 * (Once running, an outage that comes back with other credentials is retried, and /healthz says so.)
 */
async function connectOrRefuseCredentials(clients: RedisClientType[]): Promise<void> {
  let refuse: (err: Error) => void = () => {};
  const refused = new Promise<never>((_resolve, reject) => (refuse = reject));
  const onError = (err: Error) => {
    if (err instanceof ErrorReply && /^(NOAUTH|WRONGPASS)\b/.test(err.message)) {
      refuse(new Error(`Redis refused the credentials in REDIS_URL: ${err.message.split(' ')[0]}`));
    }
  };
  for (const client of clients) client.on('error', onError);
  try {
    await Promise.race([Promise.all(clients.map((client) => client.connect())), refused]);
  } catch (err) {
    for (const client of clients) client.destroy();
    throw err;
  } finally {
    for (const client of clients) client.off('error', onError);
  }
}

function redactPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}
