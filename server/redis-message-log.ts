/**
 * The message log in Redis: a capped Redis Stream shared by every replica. XADD gives each message
 * its id (`<ms>-<seq>`, increasing cluster-wide) and XREVRANGE reads "the newest N after X".
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ClientClosedError, ClientOfflineError, ErrorReply, SocketClosedUnexpectedlyError, type RedisClientType } from 'redis';
import { z } from 'zod';
import type { ChatMessage } from '../shared/events.js';
import { LOG_CAPACITY, MESSAGE_KEY_TTL_SECONDS, type Appended, type MessageLog, type NewMessage } from './message-log.js';
import type { ChatMetrics } from './metrics.js';
import { answeredInTime, RedisTimeoutError } from './redis-adapter.js';

// The {chat} hash tag puts every key in one Redis Cluster slot, which a script touching two keys needs.
const LOG_KEY = '{chat}:log';
const messageKey = (key: string) => `{chat}:key:${key}`;

/**
 * Append-unless-seen as one atomic step, so two retries of one message racing on two replicas
 * cannot both append it. `MAXLEN ~` trims whole internal nodes, which keeps at least LOG_CAPACITY
 * entries and is much cheaper than an exact trim.
 */
const APPEND_SCRIPT = `
local first = redis.call('GET', KEYS[2])
if first then
  local entry = redis.call('XRANGE', KEYS[1], first, first)[1]
  return {first, entry and entry[2][2] or false, 1}
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'message', ARGV[2])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
return {id, ARGV[2], 0}
`;

const APPEND_SCRIPT_SHA1 = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/** The stored JSON, checked on the way out: anything that can write to Redis can write here. */
const storedMessageSchema = z.object({ name: z.string(), text: z.string(), instance: z.string(), at: z.number() });

export function createRedisMessageLog(client: RedisClientType, logger: Logger, metrics: ChatMetrics): MessageLog {
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

  function parse(id: string, json: string): ChatMessage | undefined {
    try {
      return { id, ...storedMessageSchema.parse(JSON.parse(json)) };
    } catch {
      logger.warn({ id }, 'skipped a malformed entry in the message log');
      return undefined;
    }
  }

  async function newestFirst(start: string, limit: number): Promise<ChatMessage[]> {
    const entries = await metrics.redis('read', answeredInTime(client.xRevRange(LOG_KEY, '+', start, { COUNT: limit })));
    return (entries ?? [])
      .map((entry) => parse(entry.id, entry.message.message ?? ''))
      .filter((message) => message !== undefined)
      .reverse();
  }

  return {
    append: async (message: NewMessage, key: string): Promise<Appended> => {
      const json = JSON.stringify(message);
      const appending = runAppendScript([LOG_KEY, messageKey(key)], [String(LOG_CAPACITY), json, String(MESSAGE_KEY_TTL_SECONDS)]);
      const reply = await metrics.redis('append', appending).catch((err: Error) => {
        throw new Error(describeAppendFailure(err), { cause: err });
      });
      const [id, storedJson, duplicate] = reply as [string, string | null, number];
      if (!duplicate) return { duplicate: false, id, message: { id, ...message } };
      return { duplicate: true, id, message: storedJson === null ? undefined : parse(id, storedJson) };
    },
    latest: (limit) => newestFirst('-', limit),
    // `(` makes the start exclusive (Redis 6.2+).
    after: (id, limit) => newestFirst(`(${id}`, limit),
  };
}

/** What the sender is told when an append failed, depending on whether Redis may have stored it. */
function describeAppendFailure(err: Error): string {
  // node-redis refused to send the command at all (disconnected, or too many waiting): nothing
  // can have been stored.
  if (err instanceof ClientOfflineError || err instanceof ClientClosedError || err.message === 'The queue is full') {
    return 'the message log (Redis) is unavailable: not sent, try again';
  }
  // Sent, but no answer: Redis may have stored it. Sending again with the same key is safe.
  if (err instanceof RedisTimeoutError || err instanceof SocketClosedUnexpectedlyError) {
    return 'the message log (Redis) did not confirm it in time: send it again';
  }
  return `the message log (Redis) refused it: ${err.message}`;
}
