/**
 * Derives the nginx config `npm run cluster` runs from the one real file, nginx/nginx.conf, by a
 * few checked substitutions. Each one fails loudly if the real file stops matching, so the two can
 * never drift apart silently.
 */
import { CONTAINER_PORT, UPSTREAM_SERVER, type ClusterPorts } from './topology.js';

/** Replaces every match of `pattern`, and fails if there is none. */
export function replaceRequired(conf: string, pattern: RegExp, replacement: (...groups: string[]) => string, what: string): string {
  let found = false;
  const result = conf.replace(pattern, (...args: string[]) => {
    found = true;
    return replacement(...args);
  });
  if (!found) throw new Error(`nginx.conf: expected ${what}`);
  return result;
}

/**
 * @param prefix absolute path of the folder nginx runs in (`nginx -p`), for its pid and temp files
 */
export function deriveLocalNginxConf(conf: string, ports: ClusterPorts, prefix: string): string {
  let local = replaceRequired(
    conf,
    UPSTREAM_SERVER,
    (_match, serverKeyword, number) => `${serverKeyword}127.0.0.1:${ports.replica(Number(number))}; # chat${number}:${CONTAINER_PORT}`,
    '`server chatN:3000;` lines in the upstream',
  );
  local = replaceRequired(local, /^(\s*)listen 80;/m, (_match, indent) => `${indent}listen 127.0.0.1:${ports.front};`, '`listen 80;`');
  // In a container nginx writes its pid and temp files to system folders it owns; a local run
  // keeps them in its own folder, so it needs no root and leaves nothing behind.
  const tempPaths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path "${prefix}/temp/${kind}";`).join('\n');
  local = replaceRequired(local, /^http \{$/m, (match) => `${match}\n${tempPaths}\n`, '`http {`');
  return `pid "${prefix}/nginx.pid";\n${local}`;
}
