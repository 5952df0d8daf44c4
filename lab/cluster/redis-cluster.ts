/**
 * A real Redis Cluster on 127.0.0.1: three primaries with a replica each, `redis-server
 * --cluster-enabled yes` processes joined by `redis-cli --cluster create`. `npm run cluster` with
 * CLUSTER_REDIS=cluster and the Redis Cluster tests both start it from here.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient, type RedisClientType } from 'redis';
import type { ChildService } from './child-process.js';
import { redisUrlFor, startRedis } from './cluster.js';
import { REDIS_CLI, requireProgram } from './system-programs.js';

/** Three primaries and a replica of each: the smallest cluster that survives a primary's death. */
export const REDIS_CLUSTER_SIZE = 6;

export interface RunningRedisCluster {
  /** Every node's URL, password included: what REDIS_CLUSTER_NODES lists. */
  urls: string[];
  /** The node listening on `port`, as last started (a test restarts killed ones). */
  node(port: number): ChildService;
  /** Starts the node of `port` again, on its own folder: it rejoins the cluster it was in. */
  restart(port: number): Promise<ChildService>;
  /** The port of the primary that holds `key`'s slot now. */
  primaryOf(key: string): Promise<number>;
  /**
   * Moves the slot of `key` to the primary on `toPort` while the cluster serves it, as `redis-cli
   * --cluster reshard` moves each of its slots (SETSLOT IMPORTING and MIGRATING, MIGRATE each key,
   * SETSLOT NODE), but that one slot: reshard moves a number of slots of its own choosing. One key
   * per MIGRATE, so that commands meet the slot half moved.
   */
  migrateSlot(key: string, toPort: number): Promise<void>;
  /** The port of the replica of the primary on `port`. */
  replicaOf(port: number): Promise<number>;
  /** Resolves once every live node says the cluster is ok and serves every slot, and every live replica is in sync with its primary. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts REDIS_CLUSTER_SIZE nodes on `ports`, each with its own folder under `dir` (its
 * nodes.conf and append-only file), creates the cluster and waits until it serves every slot.
 * Node N's cluster bus listens on `busPorts[N]`: Redis's default, its port + 10000, can fall in the
 * range outgoing connections take their local ports from (32768-), where one may already hold it.
 * `nodeTimeoutMs` is how long a primary may be unreachable before its replica takes over (Redis's
 * default is 15 s; tests use one second).
 */
export async function startRedisCluster(options: {
  ports: number[];
  busPorts: number[];
  dir: string;
  password: string;
  nodeTimeoutMs?: number;
}): Promise<RunningRedisCluster> {
  const { ports, busPorts, dir, password } = options;
  if (ports.length !== REDIS_CLUSTER_SIZE || busPorts.length !== REDIS_CLUSTER_SIZE)
    throw new Error(`a Redis Cluster here has ${REDIS_CLUSTER_SIZE} nodes, not ${ports.length} (with ${busPorts.length} bus ports)`);
  const redisCli = requireProgram(REDIS_CLI);
  const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 15_000)];
  const start = (port: number) => {
    const nodeDir = join(dir, `redis-${port}`);
    mkdirSync(nodeDir, { recursive: true });
    const busPort = busPorts[ports.indexOf(port)]!;
    return startRedis({ port, dir: nodeDir, name: `redis-${port}`, password, args: [...args, '--cluster-port', String(busPort)] });
  };
  const nodes = new Map<number, ChildService>();
  const stop = async () => {
    await Promise.all([...nodes.values()].map((node) => node.stop()));
  };
  const cli = (cliArgs: string[]) =>
    promisify(execFile)(redisCli, cliArgs, { env: { ...process.env, REDISCLI_AUTH: password }, timeout: 30_000 }).then(({ stdout }) => stdout);

  const waitUntilHealthy = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const live = [...nodes].filter(([, node]) => !node.hasExited()).map(([port]) => port);
      const infos = await Promise.all(
        live.map((port) =>
          Promise.all([cli(['-p', String(port), 'cluster', 'info']), cli(['-p', String(port), 'info', 'replication'])]).then(
            (answers) => answers.join('\n'),
            (err: Error) => err.message,
          ),
        ),
      );
      // A primary counts once the cluster is ok; a replica once it also follows its primary.
      const healthy = (info: string) =>
        /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && (/role:master/.test(info) || /master_link_status:up/.test(info));
      // And every node agrees on who serves which slots: a node restarted after a failover says
      // "ok" with its old view for a moment, before it learns it is now a replica.
      const owners = await Promise.all(live.map((port) => slotOwners(port).catch((err: Error) => err.message)));
      if (infos.every(healthy) && owners.every((view) => view === owners[0])) return;
      last = infos.find((info) => !healthy(info)) ?? '';
      if (Date.now() > deadline) throw new Error(`the Redis Cluster is not healthy after ${timeoutMs} ms: ${last.split('\n').slice(0, 3).join(' ')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  /** Which primary serves which slots, as the node on `port` sees it: `<from>-<to>@<port>` lines. */
  const slotOwners = (port: number) =>
    onNode(port, async (client) => {
      const ranges = (await client.sendCommand(['CLUSTER', 'SLOTS'])) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      return ranges
        .map(([from, to, [, primaryPort]]) => `${from}-${to}@${primaryPort}`)
        .sort()
        .join('\n');
    });

  /** `use` on a connection of its own to the node on `port`. */
  const onNode = async <T>(port: number, use: (node: RedisClientType) => Promise<T>): Promise<T> => {
    const client = createClient({ url: redisUrlFor(port, password), socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    try {
      await client.connect();
      return await use(client);
    } finally {
      client.destroy();
    }
  };

  const primaryOf = async (key: string): Promise<number> => {
    // Any live node knows the slot's owner: CLUSTER KEYSLOT, then the shard that serves it.
    // A node just killed may not have been reaped yet: the next one is asked.
    for (const [port, node] of nodes) {
      if (node.hasExited()) continue;
      try {
        const owner = await onNode(port, async (client) => {
          const slot = Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key]));
          const ranges = (await client.sendCommand(['CLUSTER', 'SLOTS'])) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
          return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
        });
        if (owner !== undefined) return Number(owner);
      } catch {
        // ask the next one
      }
    }
    throw new Error(`no live node says which primary holds ${key}`);
  };

  try {
    await Promise.all(ports.map(async (port) => nodes.set(port, await start(port))));
    await cli(['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await waitUntilHealthy();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    urls: ports.map((port) => redisUrlFor(port, password)),
    node: (port) => nodes.get(port)!,
    restart: async (port) => {
      const node = await start(port);
      nodes.set(port, node);
      return node;
    },
    primaryOf,
    migrateSlot: async (key, toPort) => {
      const fromPort = await primaryOf(key);
      const [slot, fromId, toId] = await Promise.all([
        onNode(fromPort, (node) => node.sendCommand(['CLUSTER', 'KEYSLOT', key])).then(String),
        onNode(fromPort, (node) => node.sendCommand(['CLUSTER', 'MYID'])).then(String),
        onNode(toPort, (node) => node.sendCommand(['CLUSTER', 'MYID'])).then(String),
      ]);
      await onNode(toPort, (node) => node.sendCommand(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId]));
      await onNode(fromPort, async (node) => {
        await node.sendCommand(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId]);
        for (;;) {
          const keys = (await node.sendCommand(['CLUSTER', 'GETKEYSINSLOT', slot, '1'])) as string[];
          if (keys.length === 0) break;
          await node.sendCommand(['MIGRATE', '127.0.0.1', String(toPort), '', '0', '5000', 'AUTH', password, 'KEYS', ...keys]);
        }
      });
      // The new owner first, as redis-cli does; the other nodes learn it from their gossip.
      await onNode(toPort, (node) => node.sendCommand(['CLUSTER', 'SETSLOT', slot, 'NODE', toId]));
      await onNode(fromPort, (node) => node.sendCommand(['CLUSTER', 'SETSLOT', slot, 'NODE', toId]));
    },
    replicaOf: async (port) => {
      const live = [...nodes].find(([, node]) => !node.hasExited());
      // Lines of `<id> <ip>:<port>@<bus port> <flags> <primary's id or -> …`.
      const lines = (await cli(['-p', String(live![0]), 'cluster', 'nodes']))
        .trim()
        .split('\n')
        .map((line) => line.split(' '));
      const primary = lines.find(([, address]) => address!.startsWith(`127.0.0.1:${port}@`));
      const replica = lines.find(([, , flags, primaryId]) => flags!.includes('slave') && primaryId === primary?.[0]);
      if (!replica) throw new Error(`the node on port ${port} has no replica`);
      return Number(replica[1]!.split(':')[1]!.split('@')[0]);
    },
    waitUntilHealthy,
    stop,
  };
}
