/**
 * Derives the HAProxy config `CLUSTER_FRONT=haproxy npm run cluster` runs from the one real file,
 * haproxy/haproxy.cfg, by checked substitutions, as lab/cluster/nginx-conf.ts does for nginx.
 */
import { join } from 'node:path';
import { replaceRequired } from './nginx-conf.js';
import { CONTAINER_PORT, PROJECT_ROOT, type ClusterPorts } from './topology.js';

export const HAPROXY_CFG_PATH = join(PROJECT_ROOT, 'haproxy', 'haproxy.cfg');

/** Matches a backend line, `server chat3 chat3:3000 cookie chat3`, capturing the replica number. */
const HAPROXY_SERVER = new RegExp(String.raw`^(\s*server chat(\d+) )chat\d+:${CONTAINER_PORT}\b`, 'gm');

/** Replica numbers the backend lists, in order. */
export function haproxyReplicaNumbers(cfg: string): number[] {
  return [...cfg.matchAll(HAPROXY_SERVER)].map((match) => Number(match[2]));
}

export function deriveLocalHaproxyCfg(cfg: string, ports: ClusterPorts): string {
  const local = replaceRequired(
    cfg,
    HAPROXY_SERVER,
    (_match, serverStart, number) => `${serverStart}127.0.0.1:${ports.replica(Number(number))}`,
    '`server chatN chatN:3000` lines in the backend',
  );
  return replaceRequired(local, /^(\s*)bind :80$/m, (_match, indent) => `${indent}bind 127.0.0.1:${ports.front}`, '`bind :80`');
}
