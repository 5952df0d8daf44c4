/**
 * nginx/nginx.conf: the directives the README promises, and the local copy the launcher derives
 * from it, checked by the real `nginx -t`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { deriveLocalNginxConf } from '../lab/cluster/nginx-conf.js';
import { withoutStickySessions } from './fixtures/nginx-variants.js';
import { NGINX, requireProgram } from '../lab/cluster/system-programs.js';
import { clusterPorts, NGINX_CONF_PATH, replicaNumbers } from '../lab/cluster/topology.js';
import { loadConfig } from '../server/config.js';
import { startChatServer } from '../server/server.js';
import { httpGetText, makeTempDir, runToExit } from './helpers.js';

// Never started: `nginx -t` only parses, so these ports are not bound.
const BASE_PORT = 28180;
const ports = clusterPorts(BASE_PORT);
const realConf = readFileSync(NGINX_CONF_PATH, 'utf8');

/** The config without comments, so a directive only mentioned in a comment does not count. */
const directives = realConf.replace(/#.*$/gm, '');

/** `nginx -t` on `conf` in its own prefix folder, as the launcher lays it out. */
async function nginxTest(conf: string, prefix: string): Promise<{ ok: boolean; output: string }> {
  mkdirSync(join(prefix, 'temp'), { recursive: true });
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const result = await runToExit(requireProgram(NGINX), ['-t', '-p', `${prefix}/`, '-c', 'nginx.conf', '-e', 'stderr']);
  return { ok: result.code === 0, output: result.stdout + result.stderr };
}

/** An nginx time (`75s`, `2m`, `500ms`, bare seconds) in milliseconds. */
function nginxTimeMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
  assert.ok(match, `not an nginx time: ${value}`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unitMs;
}

/** The arguments of every `name ...;` directive. */
function directiveValues(name: string): string[] {
  return [...directives.matchAll(new RegExp(`^\\s*${name}\\s+([^;]*);`, 'gm'))].map((match) => match[1]!.trim());
}

/** The body of the first `keyword ... {` block, up to its closing brace (these blocks do not nest). */
function block(opening: RegExp): string {
  const start = directives.search(opening);
  assert.ok(start >= 0, `no block matching ${opening}`);
  const end = directives.indexOf('}', start);
  return directives.slice(start, end);
}

describe('the local nginx config derived from nginx/nginx.conf', () => {
  let dir: string;
  let derived: string;

  before(() => {
    dir = makeTempDir('nginx-conf');
    derived = deriveLocalNginxConf(realConf, ports, join(dir, 'local'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the real file lists the four replicas chat1..chat4', () => {
    assert.deepEqual(replicaNumbers(realConf), [1, 2, 3, 4]);
  });

  test('every chatN:3000 becomes its local port, and listen 80 the base port', () => {
    assert.doesNotMatch(derived, /^\s*server\s+chat\d+:3000;/m);
    for (const number of replicaNumbers(realConf)) {
      assert.match(derived, new RegExp(`^\\s*server\\s+127\\.0\\.0\\.1:${ports.replica(number)};`, 'm'), `replica ${number}`);
    }
    assert.doesNotMatch(derived, /^\s*listen\s+80;/m);
    assert.match(derived, new RegExp(`^\\s*listen\\s+127\\.0\\.0\\.1:${BASE_PORT};`, 'm'));
  });

  test('passes nginx -t', async () => {
    const result = await nginxTest(derived, join(dir, 'local'));
    assert.ok(result.ok, result.output);
  });

  test('the variant without sticky sessions has no ip_hash and passes nginx -t', async () => {
    const roundRobin = withoutStickySessions(derived);
    assert.doesNotMatch(roundRobin, /^\s*ip_hash\b/m);
    assert.match(roundRobin, new RegExp(`server\\s+127\\.0\\.0\\.1:${ports.replica(1)};`), 'the replicas are still there');
    const result = await nginxTest(roundRobin, join(dir, 'round-robin'));
    assert.ok(result.ok, result.output);
  });

  test('derivation fails loudly when the real file stops matching', () => {
    const noUpstreams = realConf.replace(/^\s*server\s+chat\d+:3000;\n/gm, '');
    assert.notEqual(noUpstreams, realConf);
    assert.throws(() => deriveLocalNginxConf(noUpstreams, ports, dir), /chatN:3000/);
    const noListen = realConf.replace(/^\s*listen 80;\n/m, '');
    assert.throws(() => deriveLocalNginxConf(noListen, ports, dir), /listen 80/);
  });

  test('nginx -t really catches a broken config', async () => {
    // Guards the two tests above against an `nginx -t` that passes anything.
    const result = await nginxTest(derived.replace('proxy_http_version 1.1;', 'proxy_http_version;'), join(dir, 'broken'));
    assert.equal(result.ok, false, result.output);
  });
});

describe('nginx/nginx.conf keeps what the README promises', () => {
  test('sticky sessions: ip_hash in the upstream', () => {
    assert.match(block(/upstream\s+\w+\s*\{/), /^\s*ip_hash;/m);
  });

  test('WebSocket upgrade: HTTP/1.1 and Upgrade/Connection from a map on $http_upgrade', () => {
    assert.deepEqual(directiveValues('proxy_http_version'), ['1.1']);
    const map = /map\s+\$http_upgrade\s+(\$\w+)\s*\{([^}]*)\}/.exec(directives);
    assert.ok(map, 'no map on $http_upgrade');
    const [, variable, body] = map;
    assert.match(body!, /^\s*default\s+upgrade;/m, 'an Upgrade request gets Connection: upgrade');
    assert.match(body!, /^\s*''\s+close;/m, 'an ordinary request gets Connection: close');
    const headers = directiveValues('proxy_set_header');
    assert.ok(headers.includes('Upgrade $http_upgrade'), `proxy_set_header: ${headers.join(' | ')}`);
    assert.ok(headers.includes(`Connection ${variable}`), `proxy_set_header: ${headers.join(' | ')}`);
  });

  test('forwarded headers: Host, X-Real-IP, X-Forwarded-For, X-Forwarded-Proto', () => {
    const headers = directiveValues('proxy_set_header');
    for (const expected of ['Host $http_host', 'X-Real-IP $remote_addr', 'X-Forwarded-For $proxy_add_x_forwarded_for', 'X-Forwarded-Proto $scheme']) {
      assert.ok(headers.includes(expected), `missing proxy_set_header ${expected}; have: ${headers.join(' | ')}`);
    }
  });

  test("proxy_read_timeout exceeds the replicas' Socket.IO pingInterval + pingTimeout", async () => {
    // Ask a replica for its heartbeat settings: the Engine.IO handshake announces them.
    const server = await startChatServer({ ...loadConfig({}), port: 0, instance: 'ping' }, pino({ level: 'silent' }));
    let handshake: { pingInterval: number; pingTimeout: number };
    try {
      const open = await httpGetText(`http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`);
      assert.equal(open.status, 200, open.body);
      handshake = JSON.parse(open.body.replace(/^0/, '')) as typeof handshake;
    } finally {
      await server.close();
    }
    assert.equal(typeof handshake.pingInterval, 'number');
    assert.equal(typeof handshake.pingTimeout, 'number');

    const timeouts = directiveValues('proxy_read_timeout');
    assert.equal(timeouts.length, 1, `proxy_read_timeout: ${timeouts.join(', ')}`);
    const readTimeoutMs = nginxTimeMs(timeouts[0]!);
    const heartbeatMs = handshake.pingInterval + handshake.pingTimeout;
    assert.ok(readTimeoutMs > heartbeatMs, `proxy_read_timeout ${readTimeoutMs} ms <= pingInterval + pingTimeout ${heartbeatMs} ms`);
  });

  test('worker_connections carry 10,000 proxied clients (two connections each)', () => {
    const values = directiveValues('worker_connections');
    assert.equal(values.length, 1);
    assert.ok(Number(values[0]) >= 2 * 10_000, `worker_connections ${values[0]}`);
  });
});
