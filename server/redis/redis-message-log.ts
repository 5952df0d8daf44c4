/**
 * A room's message log in Redis: a capped Redis Stream shared by every replica. XADD gives each message
 * its id (`<ms>-<seq>`, increasing cluster-wide), the entry records the id before it, XRANGE reads
 * "the oldest N after X" and XREVRANGE "the newest N".
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ClientClosedError, ClientOfflineError, ErrorReply, SocketClosedUnexpectedlyError } from 'redis';
import { z } from 'zod';
import type { ChatMessage } from '../../shared/events.js';
import { isLogId } from '../../shared/log-id.js';
import { TimeoutError } from '../../shared/with-timeout.js';
import { MESSAGE_KEY_TTL_SECONDS, type Appended, type MessageLog, type NewMessage } from '../chat/message-log.js';
import type { ChatMetrics } from '../metrics.js';
import type { RedisConnection } from './redis-adapter.js';
import { NotReplicatedError } from './redis-replication.js';
import { answeredInTime } from './redis-timeout.js';
import { parseStoredJson } from './stored-json.js';

/**
 * A room's keys share a hash tag, `{room:<name>}`, so a Redis Cluster keeps them in one slot, which
 * a script touching two keys needs; rooms spread over the slots, and so over the shards.
 */
const hashTag = (room: string) => `{room:${room}}`;
export const logKey = (room: string) => `${hashTag(room)}:log`;
const messageKey = (room: string, key: string) => `${hashTag(room)}:key:${key}`;

/**
 * Append-unless-seen as one atomic step, so two retries of one message racing on two replicas
 * cannot both append it, and so that `prev` is the entry just before. `MAXLEN ~` trims whole
 * internal nodes, which keeps at least the capacity and is much cheaper than an exact trim.
 * Returns {id, prev, message JSON or false if trimmed, 1 if a duplicate}.
 */
const APPEND_SCRIPT = `
local first = redis.call('GET', KEYS[2])
if first then
  local entry = redis.call('XRANGE', KEYS[1], first, first)[1]
  if not entry then return {first, '0-0', false, 1} end
  return {first, entry[2][4], entry[2][2], 1}
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local prev = newest and newest[1] or '0-0'
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'message', ARGV[2], 'prev', prev)
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
return {id, prev, ARGV[2], 0}
`;

const APPEND_SCRIPT_SHA1 = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/** The stored JSON, checked on the way out: anything that can write to Redis can write here. */
const storedMessageSchema = z.object({ name: z.string(), text: z.string(), instance: z.string(), at: z.number() });

/**
 * `redis.replicated` runs after each append: with a Redis Cluster, a message is acknowledged only
 * once a replica of its shard has it too (WAIT), so that the primary's death cannot lose it.
 */
export function createRedisMessageLog(
  redis: Pick<RedisConnection, 'commands' | 'replicated'>,
  room: string,
  capacity: number,
  logger: Logger,
  metrics: ChatMetrics,
): MessageLog {
  const client = redis.commands;
  const streamKey = logKey(room);
  // EVALSHA sends only the script's hash. Until Redis has seen the script (and again after a
  // restart empties its script cache) it answers NOSCRIPT; EVAL then sends the script and caches it.
  async function runAppendScript(keys: string[], args: string[]): Promise<unknown> {
    const options = { keys, arguments: args };
    try {
      return await answeredInTime(client.evalSha(APPEND_SCRIPT_SHA1, options));
    } catch (err) {
      if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
      return answeredInTime(client.eval(APPEND_SCRIPT, options));
    }
  }

  function parse(id: string, prev: string, json: string): ChatMessage | undefined {
    const stored = isLogId(prev) ? parseStoredJson(storedMessageSchema, json) : undefined;
    if (stored) return { room, id, prev, ...stored };
    logger.warn({ room, id }, 'skipped a malformed entry in the message log');
    return undefined;
  }

  const read = <T>(command: Promise<T>) => metrics.redis('read', answeredInTime(command));

  function parseEntries(entries: { id: string; message: Record<string, string> }[] | null): ChatMessage[] {
    return (entries ?? []).map((entry) => parse(entry.id, entry.message.prev ?? '', entry.message.message ?? '')).filter((message) => message !== undefined);
  }

  return {
    append: async (message: NewMessage, key: string): Promise<Appended> => {
      const json = JSON.stringify(message);
      const appending = runAppendScript([streamKey, messageKey(room, key)], [String(capacity), json, String(MESSAGE_KEY_TTL_SECONDS)]);
      const replicated = appending.then(async (reply) => {
        await redis.replicated(streamKey);
        return reply;
      });
      const reply = await metrics.redis('append', replicated).catch((err: Error) => {
        throw new Error(describeAppendFailure(err), { cause: err });
      });
      const [id, prev, storedJson, duplicate] = reply as [string, string, string | null, number];
      if (!duplicate) return { duplicate: false, id, message: { room, id, prev, ...message } };
      return { duplicate: true, id, message: storedJson === null ? undefined : parse(id, prev, storedJson) };
    },
    latest: async (limit) => parseEntries(await read(client.xRevRange(streamKey, '+', '-', { COUNT: limit }))).reverse(),
    // `(` makes the start exclusive (Redis 6.2+).
    after: async (id, limit) => parseEntries(await read(client.xRange(streamKey, `(${id}`, '+', { COUNT: limit }))),
    newestId: async () => (await read(client.xRevRange(streamKey, '+', '-', { COUNT: 1 })))?.[0]?.id ?? '0-0',
  };
}

/** What the sender is told when an append failed, depending on whether Redis may have stored it. */
function describeAppendFailure(err: Error): string {
  // node-redis refused to send the command at all (disconnected, or too many waiting): nothing
  // can have been stored.
  if (err instanceof ClientOfflineError || err instanceof ClientClosedError || err.message === 'The queue is full') {
    return 'the message log (Redis) is unavailable: not sent, try again';
  }
  // Sent, but no answer (none in time, or the connection reset under it: its node was killed), or
  // no replica has it yet: Redis may have stored it. Sending again with the same key is safe.
  const reset = (err as NodeJS.ErrnoException).code === 'ECONNRESET';
  if (err instanceof TimeoutError || err instanceof SocketClosedUnexpectedlyError || err instanceof NotReplicatedError || reset) {
    return 'the message log (Redis) did not confirm it in time: send it again';
  }
  // The room's slot is migrating between two Redis Cluster nodes and its keys are split between
  // them: Redis ran nothing; the script can run again once the move is done.
  if (err instanceof ErrorReply && err.message.startsWith('TRYAGAIN'))
    return 'the message log (Redis) is moving this room to another node: not sent, try again';
  return `the message log (Redis) refused it: ${err.message}`;
}
