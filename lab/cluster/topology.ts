/**
 * The cluster's shape, read from nginx/nginx.conf so the launcher never keeps its own copy: the
 * replicas are the `server chatN:3000` lines of the upstream, and every local port follows from
 * one base port.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const NGINX_CONF_PATH = join(PROJECT_ROOT, 'nginx', 'nginx.conf');

/** Port each replica listens on inside its container (the `:3000` of `server chatN:3000`). */
export const CONTAINER_PORT = 3000;

/** Matches an upstream line, `server chat3:3000;`, capturing the replica number. */
export const UPSTREAM_SERVER = new RegExp(String.raw`^(\s*server\s+)chat(\d+):${CONTAINER_PORT};`, 'gm');

/** Replica numbers (their NODE_NUMBER) in the order the upstream lists them. */
export function replicaNumbers(nginxConf: string = readFileSync(NGINX_CONF_PATH, 'utf8')): number[] {
  const numbers = [...nginxConf.matchAll(UPSTREAM_SERVER)].map((match) => Number(match[2]));
  if (numbers.length === 0) throw new Error('nginx.conf lists no `server chatN:3000;` upstream');
  return numbers;
}

/**
 * Local ports: the front (nginx, or HAProxy) on the base port and replica N on base+N (as compose
 * publishes them), Redis on base+9, Prometheus (when asked for) on base+10, the six nodes of a
 * Redis Cluster (when asked for, instead of Redis) on base+11 to base+16, and their cluster buses
 * on base+17 to base+22.
 */
export interface ClusterPorts {
  front: number;
  redis: number;
  prometheus: number;
  redisCluster: number[];
  redisClusterBus: number[];
  replica(number: number): number;
}

/** Highest replica number the port scheme has room for: base+9 belongs to Redis. */
const MAX_REPLICA_NUMBER = 8;

export function clusterPorts(basePort: number): ClusterPorts {
  return {
    front: basePort,
    redis: basePort + 9,
    prometheus: basePort + 10,
    redisCluster: [11, 12, 13, 14, 15, 16].map((offset) => basePort + offset),
    redisClusterBus: [17, 18, 19, 20, 21, 22].map((offset) => basePort + offset),
    replica: (number) => {
      if (number < 1 || number > MAX_REPLICA_NUMBER) {
        throw new Error(`replica ${number}: local ports have room for replicas 1-${MAX_REPLICA_NUMBER}`);
      }
      return basePort + number;
    },
  };
}

/** Ports above the base port that a cluster may use. */
const PORTS_ABOVE_BASE = 22;

/** Reads CLUSTER_PORT (default 8080), leaving room for the ports above it. */
export function parseClusterPort(value: string | undefined): number {
  if (value === undefined || value === '') return 8080;
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1024 && port <= 65535 - PORTS_ABOVE_BASE)) {
    throw new Error(`CLUSTER_PORT must be a whole number from 1024 to ${65535 - PORTS_ABOVE_BASE} (got ${JSON.stringify(value)})`);
  }
  return port;
}
