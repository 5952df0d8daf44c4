/**
 * Replica reports (server/chat/presence.ts) in Redis: each one a key that expires, and a set naming them
 * all so that readers need no key scan.
 */
import type { Logger } from 'pino';
import type { RedisClientType } from 'redis';
import { z } from 'zod';
import type { ChatMetrics } from '../metrics.js';
import type { PresenceStore, ReplicaReport } from '../chat/presence.js';
import { answeredInTime } from './redis-timeout.js';
import { parseStoredJson } from './stored-json.js';

const REGISTRY_KEY = '{chat}:replicas';
const reportKey = (id: string) => `{chat}:replica:${id}`;

/** Checked on the way out, like the log: anything with access to Redis can write here. */
const reportSchema = z.object({
  id: z.string(),
  instance: z.string(),
  since: z.number(),
  url: z.string().optional(),
  connections: z.number(),
  people: z.record(z.string(), z.number()),
  rooms: z.record(z.string(), z.array(z.string())),
});

export function createRedisPresenceStore(client: RedisClientType, logger: Logger, metrics: ChatMetrics): PresenceStore {
  // Every replica publishes and reads every report every second, and most seconds nothing has
  // changed: a report of thousands of names is written out, and each one read is parsed, only
  // when it is new; an unchanged one only has its expiry renewed.
  let published: { report: ReplicaReport; text: string } | undefined;
  let read = new Map<string, { text: string; report: ReplicaReport }>();
  return {
    publish: async (report, ttlMs) => {
      if (published?.report === report) {
        const renewing = client.multi().pExpire(reportKey(report.id), ttlMs).sAdd(REGISTRY_KEY, report.id).execTyped();
        const [renewed] = await metrics.redis('presence_report', answeredInTime(renewing));
        // Unless the key is gone: Redis restarted empty, or failed over to a replica that never had it.
        if (renewed === 1) return;
      } else published = { report, text: JSON.stringify(report) };
      const publishing = client.multi().set(reportKey(report.id), published.text, { PX: ttlMs }).sAdd(REGISTRY_KEY, report.id).exec();
      await metrics.redis('presence_report', answeredInTime(publishing));
    },
    readAll: async () => {
      const ids = await metrics.redis('presence_read', answeredInTime(client.sMembers(REGISTRY_KEY)));
      if (ids.length === 0) return [];
      const values = await metrics.redis('presence_read', answeredInTime(client.mGet(ids.map(reportKey))));
      const reports: ReplicaReport[] = [];
      const expired: string[] = [];
      const nowRead = new Map<string, { text: string; report: ReplicaReport }>();
      for (const [index, text] of values.entries()) {
        const id = ids[index]!;
        if (text === null) {
          expired.push(id);
          continue;
        }
        const known = read.get(id);
        const report = known?.text === text ? known.report : parseStoredJson(reportSchema, text);
        if (!report) {
          logger.warn({ id }, 'presence: skipped a malformed replica report');
          continue;
        }
        reports.push(report);
        nowRead.set(id, { text, report });
      }
      read = nowRead;
      // The reports of replicas that stopped reporting have expired; their names can go too.
      if (expired.length > 0) await answeredInTime(client.sRem(REGISTRY_KEY, expired));
      return reports;
    },
    withdraw: async (id) => {
      await answeredInTime(client.multi().del(reportKey(id)).sRem(REGISTRY_KEY, id).exec());
    },
  };
}
