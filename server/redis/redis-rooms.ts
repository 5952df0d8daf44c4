/** The room list (server/chat/rooms.ts) in Redis: one set, and a script that adds to it only under the limit. */
import type { RedisClientType } from 'redis';
import type { Created, RoomStore } from '../chat/rooms.js';
import { answeredInTime } from './redis-timeout.js';

const ROOMS_KEY = '{chat}:rooms';

/** Check and add as one step, so that two replicas creating the last rooms at once cannot pass the limit together. */
const CREATE_SCRIPT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'exists' end
if redis.call('SCARD', KEYS[1]) + 1 >= tonumber(ARGV[2]) then return 'full' end
redis.call('SADD', KEYS[1], ARGV[1])
return 'created'
`;

export function createRedisRoomStore(client: RedisClientType): RoomStore {
  return {
    shared: true,
    list: () => answeredInTime(client.sMembers(ROOMS_KEY)),
    create: async (room, limit) => (await answeredInTime(client.eval(CREATE_SCRIPT, { keys: [ROOMS_KEY], arguments: [room, String(limit)] }))) as Created,
  };
}
