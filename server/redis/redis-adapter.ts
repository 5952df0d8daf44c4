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
import { createClient, createCluster, ErrorReply, type RedisClientType, type RedisClusterType } from 'redis';
import type { RedisAdapterKind } from '../config.js';
import type { ChatMetrics, RedisOperation } from '../metrics.js';
import { reportOutages } from './redis-outages.js';
import { createReplicationCheck } from './redis-replication.js';
import { answeredInTime } from './redis-timeout.js';

/**
 * Commands written and not yet answered, at most. While Redis is connected but frozen, further
 * commands fail at once instead of piling up in memory.
 */
const MAX_PENDING_COMMANDS = 10_000;

/** Read by the health check: which node answers depends on its slot, so a Redis Cluster is asked too. */
const HEALTH_KEY = '{chat}:rooms';

export interface RedisConnection {
  /** The connection for ordinary commands (the message log, health checks). */
  commands: RedisClientType;
  /** After an append to `key`: resolves once its shard's replicas have it (server/redis/redis-replication.ts). */
  replicated(key: string): Promise<void>;
  /** Pass to Socket.IO's `adapter` option: broadcasts then reach clients of every replica. */
  adapter: ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;
  /** Whether Redis answers a PING in time and the subscriber is subscribed. */
  isHealthy(): Promise<boolean>;
  /** Closes both connections. Call after `io.close()`, which stops the adapter using them. */
  close(): Promise<void>;
}

/** One Redis (its URL), or a Redis Cluster (some of its nodes' URLs). */
type RedisTarget = { url: string } | { clusterNodes: string[] };

const CLIENT_OPTIONS = {
  // node-redis would otherwise queue commands while disconnected and run them on reconnect,
  // however late. A chat message must be stored now or refused now, so fail at once instead.
  disableOfflineQueue: true,
  commandsQueueMaxLength: MAX_PENDING_COMMANDS,
};

/**
 * A client of one Redis, or of a Redis Cluster. The cluster client has the same command methods,
 * each sent to the node that holds its key's slot (every key of one command, script or MULTI shares
 * a hash tag: server/redis/redis-message-log.ts), so the log, presence and rooms are written once, against
 * the single client's type. Its password, if any, is the first node URL's.
 */
function createCommandClient(target: RedisTarget): RedisClientType {
  if ('url' in target) return createClient({ url: target.url, ...CLIENT_OPTIONS });
  const password = new URL(target.clusterNodes[0]!).password;
  const cluster = createCluster({
    rootNodes: target.clusterNodes.map((url) => ({ url })),
    defaults: { ...CLIENT_OPTIONS, ...(password ? { password: decodeURIComponent(password) } : {}) },
  });
  return cluster as unknown as RedisClientType;
}

/**
 * Connects the two Redis clients the adapter needs and resolves once both are ready, so the
 * replica never accepts a client it could not broadcast for. While Redis is unreachable, node-redis
 * keeps retrying (and this promise keeps waiting); the first failure is logged (server/redis/redis-outages.ts).
 */
export async function connectRedis(
  target: RedisTarget,
  options: { adapter: RedisAdapterKind; replication: { replicas: number; timeoutMs: number } },
  logger: Logger,
  metrics: ChatMetrics,
): Promise<RedisConnection> {
  const adapterKind = options.adapter;
  // [1] The publisher, which also runs every other command (the message log, presence, WAIT).
  const commands = createCommandClient(target);
  // WAIT is about the writes of one connection. The Redis Cluster client would send it to every
  // primary and answer the smallest count (its policy for WAIT), so it is sent on the connection
  // to the primary of `key`'s slot, the one the append went through.
  const cluster = 'clusterNodes' in target ? (commands as unknown as RedisClusterType) : undefined;
  const nodeFor = async (key: string) => (cluster ? ((await cluster.getNodeClientForKey(key)) as unknown as RedisClientType) : commands);
  // [2] A connection in subscriber mode can run no other command, so subscribing needs a second one.
  const subscriber = commands.duplicate();

  // Without an 'error' listener, the first lost connection crashes the process (node-redis 6.3.1
  // emits 'error', which Node throws when nobody listens). With one, node-redis reconnects by
  // itself, and subscribes again to the adapter's channels before it reports 'ready'.
  reportOutages(commands, 'commands', logger, metrics);
  reportOutages(subscriber, 'subscriber', logger, metrics);

  logger.info('connecting to Redis at %s', ('url' in target ? [target.url] : target.clusterNodes).map(redactPassword).join(', '));
  // [3]
  await connectOrRefuseCredentials([commands, subscriber]);

  return {
    commands,
    replicated: createReplicationCheck(options.replication, nodeFor, logger, metrics),
    // [4] server/server.ts passes it to `new Server(…, { adapter })`.
    adapter: createRedisAdapter(adapterKind, commands, subscriber, logger, metrics),
    isHealthy: async () => {
      if (!subscriber.isReady) return false;
      try {
        // A read rather than PING, which a Redis Cluster client cannot route: it names no key.
        await metrics.redis('ping', answeredInTime(commands.exists(HEALTH_KEY)));
        return true;
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
 * The classic adapter publishes every broadcast on one channel per namespace with PUBLISH: every
 * replica receives every room's messages and drops those for rooms it has no member of, and a
 * Redis Cluster copies each one to every node. The sharded one (Redis 7's SPUBLISH/SSUBSCRIBE)
 * sends each channel to one shard only, and in its `dynamic` subscription mode (its default,
 * chosen here on purpose) a broadcast to one room goes to that room's own channel, which only the
 * replicas with a member subscribe to: rooms spread over the shards, and a replica hears only its
 * rooms. `static` would keep one channel for everything (one shard does all the work);
 * `dynamic-private` adds a channel per socket, a subscription per connection, for remote
 * `socket.emit`, which this chat does not use. (The adapter takes a room name of exactly 20
 * characters for a socket id and publishes it on the shared channel: still delivered, just not
 * sharded.) docs/performance.md compares the two on one Redis.
 */
function createRedisAdapter(kind: RedisAdapterKind, publisher: RedisClientType, subscriber: RedisClientType, logger: Logger, metrics: ChatMetrics) {
  const publishes = { operation: 'publish', metrics } as const;
  const count = metrics.adapterPacketCounter();
  if (kind === 'sharded') {
    const sharded = withReceivedPacketsCounted(withDroppedPromisesReported(subscriber, ['sSubscribe', 'sUnsubscribe'], logger), 'sSubscribe', count);
    return sharded.adapter(
      createShardedAdapter(withDroppedPromisesReported(publisher, ['sPublish'], logger, publishes), sharded.subscriber, { subscriptionMode: 'dynamic' }),
    );
  }
  const classic = withReceivedPacketsCounted(
    withDroppedPromisesReported(subscriber, ['pSubscribe', 'subscribe', 'pUnsubscribe', 'unsubscribe'], logger),
    'pSubscribe',
    count,
  );
  return classic.adapter(createAdapter(withDroppedPromisesReported(publisher, ['publish'], logger, publishes), classic.subscriber));
}

/** Both adapters' broadcast channels: `socket.io#<namespace>#`, and `socket.io#<namespace>#<room>#` for one room's. */
const CHANNEL_PREFIX = 'socket.io#';

type PacketListener = (message: Buffer, channel: Buffer) => void;

/**
 * Counts each packet the adapter receives (server/metrics.ts), by whether this replica has a member
 * of its room. The hook is the listener the adapter hands to `subscribeMethod` (node-redis's public
 * API, the same for both adapters), not one of the adapter's private methods; the channel names the
 * namespace and the room. A packet for everyone counts as for local members. `adapter` wraps the
 * adapter's factory, to know each namespace's rooms. Without `count` (METRICS=off), the subscriber is
 * not wrapped.
 */
function withReceivedPacketsCounted(
  subscriber: RedisClientType,
  subscribeMethod: 'pSubscribe' | 'sSubscribe',
  count: ((forLocalMembers: boolean) => void) | undefined,
) {
  const namespaces = new Map<string, { rooms: Map<string, unknown> }>();
  const received = (channel: string) => {
    const namespaceAndRoom = channel.slice(CHANNEL_PREFIX.length);
    const end = namespaceAndRoom.indexOf('#');
    const room = namespaceAndRoom.slice(end + 1, -1);
    const adapter = namespaces.get(namespaceAndRoom.slice(0, end));
    if (adapter) count?.(room === '' || adapter.rooms.has(room));
  };
  function wrapFactory<A extends { rooms: Map<string, unknown> }>(factory: (nsp: { name: string }) => A) {
    // Socket.IO calls the factory with `new`, which an arrow function refuses.
    function namespaceAdapter(nsp: { name: string }): A {
      const adapter = factory(nsp);
      namespaces.set(nsp.name, adapter);
      return adapter;
    }
    return namespaceAdapter;
  }
  return {
    subscriber: !count
      ? subscriber
      : new Proxy(subscriber, {
          get(target, property, receiver) {
            const value: unknown = Reflect.get(target, property, receiver);
            if (property !== subscribeMethod || typeof value !== 'function') return value;
            return (channels: unknown, listener: PacketListener, ...rest: unknown[]) =>
              value.call(
                receiver,
                channels,
                (message: Buffer, channel: Buffer) => {
                  received(channel.toString());
                  listener(message, channel);
                },
                ...rest,
              );
          },
        }),
    adapter: wrapFactory,
  };
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
