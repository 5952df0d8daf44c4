/**
 * Every Prometheus metric a replica exports, defined here and nowhere else, behind a small API the
 * rest of the server calls (`metrics.messageAccepted()`…). GET /metrics (server/app.ts) serves them
 * in Prometheus's text format: Node's and the process's own (prom-client's default metrics), and
 * the chat's, prefixed `chat_`.
 *
 * Names follow Prometheus's conventions: the unit in the name (`_seconds`), `_total` on counters,
 * histograms for latencies. Labels take a few fixed values each (a reason, a transport), never a
 * name, a text or a socket id: each label value is a time series of its own in Prometheus. The
 * replica's number is not a label here: Prometheus adds it from its scrape config
 * (prometheus/prometheus.yml).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerToClientEvents } from '../shared/events.js';
import type { ChatServer } from './chat/chat.js';

/** Why a chat message got `ok: false`. */
type MessageRefusal = 'invalid' | 'rate_limit' | 'log_unavailable';
/** Why a client was not let in: its page's origin, or a bad name in its handshake. */
type ConnectionRefusal = 'origin' | 'handshake';
/** What a `catch up` asked for: the recent conversation (a new client), or what follows an id (a gap). */
type CatchUpTrigger = 'recent' | 'gap';
/** What a replica asks of Redis, timed one by one. */
export type RedisOperation = 'append' | 'read' | 'publish' | 'presence_report' | 'presence_read' | 'ping';
/** The two connections a replica holds to Redis (server/redis/redis-adapter.ts). */
export type RedisConnectionName = 'commands' | 'subscriber';

const TRANSPORTS = ['polling', 'websocket'] as const;
/** The events this server broadcasts, for the deliveries' `event` label. */
const BROADCAST_EVENTS = new Set<string>(['chat message', 'typing', 'presence', 'joined', 'left', 'position'] satisfies (keyof ServerToClientEvents)[]);

/** From a millisecond to five seconds: a healthy acknowledgement takes a few ms; Redis's timeout is 2 s. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** How often the event-loop delay is sampled (prom-client's default is 10). */
const EVENT_LOOP_SAMPLING_MS = 100;
/** Messages in one catch-up: none, a few, up to the whole log (1,000). */
const CATCH_UP_SIZE_BUCKETS = [0, 1, 10, 100, 500, 1000];

export type ChatMetrics = ReturnType<typeof createMetrics>;

/** One registry per replica (tests run several servers in one process). */
export function createMetrics() {
  const registry = new Registry();
  // The event-loop delay is sampled by a timer that wakes the loop: every 10 ms by default, which
  // was most of an idle replica's CPU (the bench: 6 ms/s). Ten times a second still shows any stall
  // that matters to a chat.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
  const registers = [registry];

  const messagesAccepted = new Counter({
    name: 'chat_messages_accepted_total',
    help: 'Chat messages logged and acknowledged with ok: true by this replica (retries of a logged message not included).',
    registers,
  });
  const messagesDeduplicated = new Counter({
    name: 'chat_messages_deduplicated_total',
    help: 'Retries of a message already in the log: acknowledged again, not logged twice.',
    registers,
  });
  const messagesUnderReplicated = new Counter({
    name: 'chat_messages_under_replicated_total',
    help: 'Messages acknowledged with fewer Redis replicas confirming them than REDIS_WAIT_REPLICAS, because their primary had no more online: a second failure in that shard could lose them.',
    registers,
  });
  const messagesRefused = new Counter({
    name: 'chat_messages_refused_total',
    help: 'Chat messages answered ok: false, by reason: invalid (retryable: false), rate_limit, log_unavailable (Redis could not store it).',
    labelNames: ['reason'] as const,
    registers,
  });
  const ackSeconds = new Histogram({
    name: 'chat_message_ack_duration_seconds',
    help: 'From a chat message received to its ok: true acknowledgement sent (the append to the log, mostly).',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const deliveries = new Counter({
    name: 'chat_deliveries_total',
    help: "Packets broadcasts delivered to this replica's own clients, by event (a chat message to 100 clients here: 100).",
    labelNames: ['event'] as const,
    registers,
  });
  const adapterPackets = new Counter({
    name: 'chat_adapter_packets_received_total',
    help: "Broadcast packets this replica's Redis adapter received from Redis, by whether this replica had a member of the packet's room then (a broadcast to everyone counts yes); no: received and thrown away.",
    labelNames: ['for_local_members'] as const,
    registers,
  });
  const catchUps = new Counter({
    name: 'chat_catch_ups_total',
    help: 'Catch-ups answered from the log, by trigger: recent (a new client asking for the recent conversation), gap (a client asking for what follows the last message it holds).',
    labelNames: ['trigger'] as const,
    registers,
  });
  const catchUpMessages = new Histogram({
    name: 'chat_catch_up_messages',
    help: 'Messages in one catch-up.',
    buckets: CATCH_UP_SIZE_BUCKETS,
    labelNames: ['trigger'] as const,
    registers,
  });
  const catchUpsIncomplete = new Counter({
    name: 'chat_catch_ups_incomplete_total',
    help: 'Catch-ups that said some messages are no longer in the log (complete: false).',
    labelNames: ['trigger'] as const,
    registers,
  });
  const connectionsRefused = new Counter({
    name: 'chat_connections_refused_total',
    help: "Connections not let in, by reason: origin (another site's page), handshake (a bad name).",
    labelNames: ['reason'] as const,
    registers,
  });
  const disconnects = new Counter({
    name: 'chat_disconnects_total',
    help: "Clients gone from this replica, by Socket.IO's disconnect reason (ping timeout, transport close, forced close…).",
    labelNames: ['reason'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'chat_rate_limited_events_total',
    help: 'Events (messages and typing) dropped by the per-connection rate limit.',
    registers,
  });
  const slowReadersClosed = new Counter({
    name: 'chat_slow_readers_closed_total',
    help: 'Connections closed because their client stopped reading (server/guards/slow-readers.ts).',
    registers,
  });
  const framesTooLarge = new Counter({
    name: 'chat_frames_too_large_total',
    help: 'WebSocket connections closed for a frame above the limit (MAX_FRAME_BYTES).',
    registers,
  });
  const drainClosed = new Counter({
    name: 'chat_drain_closed_connections_total',
    help: 'Connections this replica closed while draining (SIGTERM), so that their clients move to another replica.',
    registers,
  });
  const draining = new Gauge({ name: 'chat_draining', help: '1 while this replica drains (SIGTERM), else 0.', registers });
  const redisSeconds = new Histogram({
    name: 'chat_redis_operation_duration_seconds',
    help: 'Round trips to Redis, by operation, failed ones included (a timeout counts 2 s).',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const redisFailures = new Counter({
    name: 'chat_redis_operation_failures_total',
    help: 'Operations Redis did not answer in time, refused, or could not be sent (disconnected), by operation.',
    labelNames: ['operation'] as const,
    registers,
  });
  const redisConnected = new Gauge({
    name: 'chat_redis_connected',
    help: 'Whether this connection to Redis is up (1) or reconnecting (0), by connection: commands or subscriber.',
    labelNames: ['connection'] as const,
    registers,
  });
  const redisConnectionLosses = new Counter({
    name: 'chat_redis_connection_losses_total',
    help: 'Times a connection to Redis was lost (or could not be made), by connection.',
    labelNames: ['connection'] as const,
    registers,
  });
  const presenceReports = new Counter({
    name: 'chat_presence_reports_total',
    help: "Rounds of this replica's presence report (publish its own, read everyone's), by outcome: ok or failed.",
    labelNames: ['outcome'] as const,
    registers,
  });
  const presenceReplicas = new Gauge({
    name: 'chat_presence_replicas',
    help: 'Replicas alive according to the last presence reports this replica read.',
    registers,
  });
  const presencePeople = new Gauge({
    name: 'chat_presence_people',
    help: 'People online cluster-wide according to the last presence reports this replica read.',
    registers,
  });

  // Every labelled series starts at 0, so that rate() and absent-versus-zero work from the first scrape.
  for (const reason of ['invalid', 'rate_limit', 'log_unavailable'] satisfies MessageRefusal[]) messagesRefused.inc({ reason }, 0);
  for (const trigger of ['recent', 'gap'] satisfies CatchUpTrigger[]) {
    catchUps.inc({ trigger }, 0);
    catchUpsIncomplete.inc({ trigger }, 0);
  }
  for (const reason of ['origin', 'handshake'] satisfies ConnectionRefusal[]) connectionsRefused.inc({ reason }, 0);
  for (const outcome of ['ok', 'failed']) presenceReports.inc({ outcome }, 0);
  for (const event of BROADCAST_EVENTS) deliveries.inc({ event }, 0);
  for (const forLocalMembers of ['yes', 'no']) adapterPackets.inc({ for_local_members: forLocalMembers }, 0);
  draining.set(0);

  const metrics = {
    registry,

    messageAccepted: () => messagesAccepted.inc(),
    messageDeduplicated: () => messagesDeduplicated.inc(),
    messageUnderReplicated: () => messagesUnderReplicated.inc(),
    messageRefused: (reason: MessageRefusal) => messagesRefused.inc({ reason }),
    /** Call when a message arrives; call what it returns when its `ok: true` goes out. */
    startAck: () => ackSeconds.startTimer(),

    /** One catch-up of `messages` (to a client, or a repair's to all of this replica's); `complete: false` when some missed ones could not be sent. */
    catchUp: (trigger: CatchUpTrigger, messages: number, complete: boolean) => {
      catchUps.inc({ trigger });
      catchUpMessages.observe({ trigger }, messages);
      if (!complete) catchUpsIncomplete.inc({ trigger });
    },

    connectionRefused: (reason: ConnectionRefusal) => connectionsRefused.inc({ reason }),
    disconnected: (reason: string, description: unknown) => {
      disconnects.inc({ reason });
      // ws closes a connection whose frame exceeds maxPayload with this error; Engine.IO calls it a transport error.
      if (description instanceof Error && description.message.includes('Max payload size exceeded')) framesTooLarge.inc();
    },
    /** An event the rate limit dropped; a chat message among them also counts as refused. */
    rateLimited: (event: string) => {
      rateLimited.inc();
      if (event === 'chat message') messagesRefused.inc({ reason: 'rate_limit' });
    },
    slowReaderClosed: () => slowReadersClosed.inc(),
    drainStarted: () => draining.set(1),
    drainClosed: (connections: number) => drainClosed.inc(connections),

    /** `operation`'s promise, timed; a rejection is counted as a failure and passed on. */
    redis: async <T>(operation: RedisOperation, command: Promise<T>): Promise<T> => {
      const done = redisSeconds.startTimer({ operation });
      try {
        return await command;
      } catch (err) {
        redisFailures.inc({ operation });
        throw err;
      } finally {
        done();
      }
    },
    redisConnection: (connection: RedisConnectionName, up: boolean) => {
      redisConnected.set({ connection }, up ? 1 : 0);
      if (!up) redisConnectionLosses.inc({ connection });
    },
    /** What the Redis adapter calls for each packet it receives (server/redis/redis-adapter.ts); undefined: not counted. */
    adapterPacketCounter: (): ((forLocalMembers: boolean) => void) | undefined => (forLocalMembers) =>
      adapterPackets.inc({ for_local_members: forLocalMembers ? 'yes' : 'no' }),

    presenceRead: (replicas: number, people: number) => {
      presenceReports.inc({ outcome: 'ok' });
      presenceReplicas.set(replicas);
      presencePeople.set(people);
    },
    presenceFailed: () => presenceReports.inc({ outcome: 'failed' }),

    /** The connection gauge, read from Socket.IO at each scrape, and the deliveries of `io`'s adapter. */
    watch: (io: ChatServer) => {
      new Gauge({
        name: 'chat_connections',
        help: 'Clients connected to this replica, by transport (polling, or websocket once upgraded).',
        labelNames: ['transport'] as const,
        registers,
        collect() {
          const counts = new Map<string, number>(TRANSPORTS.map((transport) => [transport, 0]));
          for (const socket of io.of('/').sockets.values()) {
            const transport = socket.conn.transport.name;
            counts.set(transport, (counts.get(transport) ?? 0) + 1);
          }
          for (const [transport, count] of counts) this.set({ transport }, count);
        },
      });
      // The same function for every socket: a connection costs no closure of its own.
      io.on('connection', (socket) => socket.on('disconnect', metrics.disconnected));
      countDeliveries(io.of('/').adapter, (event, recipients) => deliveries.inc({ event: BROADCAST_EVENTS.has(event) ? event : 'other' }, recipients));
    },
  };
  return metrics;
}

/**
 * What the hooks call with METRICS=off: nothing is counted or wrapped, and Redis operations pass
 * through untimed. The benchmark runs a cluster this way beside the real one, to show what metrics cost.
 */
export function noMetrics(): ChatMetrics {
  const nothing = () => {};
  return {
    registry: new Registry(),
    messageAccepted: nothing,
    messageDeduplicated: nothing,
    messageUnderReplicated: nothing,
    messageRefused: nothing,
    startAck: () => () => 0,
    catchUp: nothing,
    connectionRefused: nothing,
    disconnected: nothing,
    rateLimited: nothing,
    slowReaderClosed: nothing,
    drainStarted: nothing,
    drainClosed: nothing,
    redis: (_operation, command) => command,
    redisConnection: nothing,
    adapterPacketCounter: () => undefined,
    presenceRead: nothing,
    presenceFailed: nothing,
    watch: nothing,
  };
}

type NamespaceAdapter = ReturnType<ChatServer['of']>['adapter'];

/**
 * Calls `count(event, recipients)` for every broadcast the adapter delivers to this replica's own
 * clients: this replica's broadcasts and, with Redis, the other replicas'. Both end in
 * socket.io-adapter's `broadcast`, which encodes the packet once (`_encode`) and then calls `apply`
 * with a callback per recipient. So the cost is one increment per recipient, with no listener on
 * each socket. (`apply` also serves fetchSockets and the like: only an `apply` right after an
 * `_encode` is a broadcast.) test/metrics.test.ts checks the counts with the classic adapter
 * (with the sharded one they were checked by hand).
 */
function countDeliveries(adapter: NamespaceAdapter, count: (event: string, recipients: number) => void): void {
  // Both are private in socket.io-adapter's types, and stable from 2.x on.
  const internals = adapter as unknown as {
    _encode(packet: { data?: unknown[] }, options: unknown): unknown;
    apply(options: unknown, callback: (socket: unknown) => void): void;
  };
  const encode = internals._encode.bind(adapter);
  const apply = internals.apply.bind(adapter);
  let broadcasting: string | undefined;
  internals._encode = (packet, options) => {
    broadcasting = String(packet.data?.[0]);
    return encode(packet, options);
  };
  internals.apply = (options, callback) => {
    const event = broadcasting;
    broadcasting = undefined;
    if (event === undefined) return apply(options, callback);
    let recipients = 0;
    apply(options, (socket) => {
      recipients += 1;
      callback(socket);
    });
    count(event, recipients);
  };
}
