/**
 * Static checks of docker-compose.yml (no Docker engine needed): docker-compose accepts it, and the
 * topology it resolves to matches nginx/nginx.conf and the local launcher's port scheme.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { DOCKER_COMPOSE, requireProgram } from '../cluster/system-programs.js';
import { clusterPorts, CONTAINER_PORT, NGINX_CONF_PATH, PROJECT_ROOT, replicaNumbers } from '../cluster/topology.js';

const COMPOSE_FILE = resolve(PROJECT_ROOT, 'docker-compose.yml');

/** The ports compose publishes on the host follow the local launcher's scheme from 8080. */
const HOST_PORTS = clusterPorts(8080);
const NGINX_CONTAINER_PORT = 80;
const REPLICAS = replicaNumbers();

/** The parts of a resolved compose service these tests read. */
interface Service {
  image?: string;
  command?: string | string[];
  build?: string | { context?: string };
  environment?: Record<string, string | number | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: (string | number | { published?: string | number; target?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
}

interface PortMapping {
  published: number | undefined;
  target: number;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Runs docker-compose on this project's compose file; fails the test if it is not installed. */
function dockerCompose(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(requireProgram(DOCKER_COMPOSE), ['--file', COMPOSE_FILE, ...args], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (result.error) throw result.error;
  return result;
}

let resolvedServices: Record<string, Service> | undefined;

/** The services as docker-compose resolves them: anchors and merges expanded, paths absolute. */
function services(): Record<string, Service> {
  if (!resolvedServices) {
    const { status, stdout, stderr } = dockerCompose('config');
    assert.equal(status, 0, `docker-compose config failed:\n${stderr}`);
    resolvedServices = (parse(stdout) as { services: Record<string, Service> }).services;
  }
  return resolvedServices;
}

function service(name: string): Service {
  const found = services()[name];
  assert.ok(found, `docker-compose.yml has no service "${name}"`);
  return found;
}

/** Environment as a map, whether written as a map or as a list of NAME=value. */
function environment(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((item) => {
        const at = item.indexOf('=');
        return at === -1 ? [item, ''] : [item.slice(0, at), item.slice(at + 1)];
      })
    : Object.entries(env).map(([name, value]) => [name, String(value ?? '')]);
  return Object.fromEntries(entries);
}

/** Condition per dependency; the short (list) form means "service_started". */
function dependencies(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

/** The build context folder, from `build: path` or `build: { context }`. */
function buildContext(svc: Service): string {
  const context = typeof svc.build === 'string' ? svc.build : svc.build?.context;
  assert.ok(context, 'the service has no build context');
  return context;
}

/** Published ports, from the short ("8081:3000", "127.0.0.1:8081:3000/tcp") or long form. */
function ports(svc: Service): PortMapping[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      const published = port.published === undefined ? undefined : Number(port.published);
      return { published, target: Number(port.target) };
    }
    const parts = String(port).replace(/\/\w+$/, '').split(':');
    const target = Number(parts.at(-1));
    return { published: parts.length > 1 ? Number(parts.at(-2)) : undefined, target };
  });
}

/** Bind mounts and volumes, from the short ("src:target:ro") or long form, sources made absolute. */
function mounts(svc: Service): Mount[] {
  return (svc.volumes ?? []).map((volume) => {
    if (typeof volume === 'object') {
      return { source: resolve(PROJECT_ROOT, volume.source ?? ''), target: volume.target ?? '', readOnly: volume.read_only === true };
    }
    const [source = '', target = '', mode = ''] = volume.split(':');
    return { source: resolve(PROJECT_ROOT, source), target, readOnly: mode.split(',').includes('ro') };
  });
}

/** The healthcheck's command line; fails if the service has none. */
function healthcheckCommand(name: string, svc: Service): string {
  const check = svc.healthcheck;
  assert.ok(check?.test && check.test.length > 0 && !check.disable, `${name} has no healthcheck`);
  assert.notDeepEqual(check.test, ['NONE'], `${name} disables its image's healthcheck`);
  return ([] as string[]).concat(check.test).join(' ');
}

test('docker-compose accepts docker-compose.yml', () => {
  const { status, stderr } = dockerCompose('config', '-q');
  assert.equal(status, 0, `docker-compose config -q failed:\n${stderr}`);
});

test('the services are redis, nginx and one chatN per upstream server in nginx.conf', () => {
  const expected = ['redis', 'nginx', ...REPLICAS.map((n) => `chat${n}`)];
  assert.deepEqual(Object.keys(services()).sort(), expected.sort());
});

test('redis has a healthcheck and is not published on the host', () => {
  const redis = service('redis');
  healthcheckCommand('redis', redis);
  assert.deepEqual(ports(redis), []);
});

test("redis asks for a password, and the replicas' REDIS_URL carries the same one", () => {
  const redis = service('redis');
  const command = ([] as string[]).concat(redis.command ?? []).join(' ');
  // `docker-compose config` writes the shell's $ escaped, as $$.
  assert.match(command, /--requirepass "\$+REDISCLI_AUTH"/);
  const password = environment(redis).REDISCLI_AUTH;
  assert.ok(password, 'the redis service has no REDISCLI_AUTH');
  for (const n of REPLICAS) {
    assert.equal(decodeURIComponent(new URL(environment(service(`chat${n}`)).REDIS_URL ?? '').password), password, `chat${n}`);
  }
});

test('redis keeps the message log: append-only file on, /data on a named volume', () => {
  const redis = service('redis');
  const command = ([] as string[]).concat(redis.command ?? []).join(' ');
  assert.match(command, /--appendonly yes/);
  // docker-compose config writes a bind mount's source as an absolute path, a named volume's as its name.
  const volumes = (redis.volumes ?? []).map((volume) => (typeof volume === 'string' ? volume : `${volume.source}:${volume.target}`));
  assert.ok(volumes.some((volume) => /^[\w.-]+:\/data\b/.test(volume)), `no named volume on /data: ${volumes.join(', ')}`);
});

for (const n of REPLICAS) {
  test(`chat${n}: replica ${n}, connected to redis, healthy on /healthz, published on ${HOST_PORTS.replica(n)}`, () => {
    const chat = service(`chat${n}`);
    assert.equal(resolve(PROJECT_ROOT, buildContext(chat)), PROJECT_ROOT, 'replicas are built from this project');
    const env = environment(chat);
    assert.equal(env.NODE_NUMBER, String(n));
    assert.equal(env.PUBLIC_URL, `http://localhost:${HOST_PORTS.replica(n)}`, 'the cluster panel links to the published port');
    // The server listens on PORT, 3000 by default: the port nginx.conf and the mappings expect.
    assert.equal(env.PORT ?? String(CONTAINER_PORT), String(CONTAINER_PORT));

    const redisUrl = new URL(env.REDIS_URL ?? 'missing:');
    assert.equal(redisUrl.protocol, 'redis:', `REDIS_URL ${env.REDIS_URL} is not a redis:// URL`);
    assert.equal(redisUrl.hostname, 'redis', 'REDIS_URL should name the redis service');

    assert.equal(dependencies(chat).redis, 'service_healthy');
    assert.match(healthcheckCommand(`chat${n}`, chat), new RegExp(`:${CONTAINER_PORT}/healthz`));
    assert.deepEqual(ports(chat), [{ published: HOST_PORTS.replica(n), target: CONTAINER_PORT }]);
  });
}

test('the replicas differ only in NODE_NUMBER, PUBLIC_URL and published port', () => {
  const withoutReplicaSpecifics = (name: string) => {
    const { ports: _ports, ...rest } = service(name);
    const { NODE_NUMBER: _number, PUBLIC_URL: _publicUrl, ...env } = environment(rest);
    return { ...rest, environment: env };
  };
  const [first, ...others] = REPLICAS.map((n) => `chat${n}`);
  for (const name of others) {
    assert.deepEqual(withoutReplicaSpecifics(name), withoutReplicaSpecifics(first!), `${name} differs from ${first}`);
  }
});

test(`nginx mounts nginx/nginx.conf, publishes ${HOST_PORTS.front} and waits for healthy replicas`, () => {
  const nginx = service('nginx');
  assert.deepEqual(
    mounts(nginx).find((mount) => mount.target === '/etc/nginx/nginx.conf'),
    { source: NGINX_CONF_PATH, target: '/etc/nginx/nginx.conf', readOnly: true },
  );
  assert.deepEqual(ports(nginx), [{ published: HOST_PORTS.front, target: NGINX_CONTAINER_PORT }]);
  const expected = Object.fromEntries(REPLICAS.map((n) => [`chat${n}`, 'service_healthy']));
  assert.deepEqual(dependencies(nginx), expected);
});
