/**
 * Static checks of docker-compose.yml and its overrides, the HAProxy and Traefik fronts and Prometheus (no
 * Docker engine needed): docker-compose accepts them, and the topology they resolve to matches
 * nginx/nginx.conf, haproxy/haproxy.cfg and the local launcher's port scheme.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { HAPROXY_CFG_PATH } from '../lab/cluster/haproxy-conf.js';
import { PROMETHEUS_DIR } from '../lab/cluster/prometheus-conf.js';
import { DOCKER_COMPOSE, requireProgram } from '../lab/cluster/system-programs.js';
import { clusterPorts, CONTAINER_PORT, NGINX_CONF_PATH, PROJECT_ROOT, replicaNumbers } from '../lab/cluster/topology.js';

const COMPOSE_FILE = resolve(PROJECT_ROOT, 'docker-compose.yml');
const HAPROXY_OVERRIDE = resolve(PROJECT_ROOT, 'docker-compose.haproxy.yml');
const TRAEFIK_OVERRIDE = resolve(PROJECT_ROOT, 'docker-compose.traefik.yml');
const PROMETHEUS_OVERRIDE = resolve(PROJECT_ROOT, 'docker-compose.prometheus.yml');
const REDIS_CLUSTER_OVERRIDE = resolve(PROJECT_ROOT, 'docker-compose.redis-cluster.yml');

/** The ports compose publishes on the host follow the local launcher's scheme from 8080. */
const HOST_PORTS = clusterPorts(8080);
const NGINX_CONTAINER_PORT = 80;
const REPLICAS = replicaNumbers();

/**
 * The parts of a service these tests read, in the one form `docker-compose config` (1.29) writes
 * each: environment and depends_on as maps, build as `{ context }`, ports in the long form (the
 * short one, "host_ip:published:target/tcp", when an address is given), volumes in the short one
 * ("source:target:mode").
 */
interface Service {
  image?: string;
  command?: string[];
  labels?: Record<string, string>;
  build?: { context: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: ({ published?: number; target: number } | string)[];
  volumes?: string[];
}

interface PortMapping {
  /** The host address it listens on; undefined: every interface. */
  hostIp?: string;
  published: number | undefined;
  target: number;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/**
 * Runs docker-compose on the compose file and `overrides`, merged as `docker compose -f … -f …`
 * merges them; fails the test if docker-compose is not installed.
 */
function dockerCompose(overrides: string[], ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const files = [COMPOSE_FILE, ...overrides].flatMap((file) => ['--file', file]);
  const result = spawnSync(requireProgram(DOCKER_COMPOSE), [...files, ...args], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (result.error) throw result.error;
  return result;
}

const resolved = new Map<string, Record<string, Service>>();

/** The services as docker-compose resolves them: anchors and merges expanded, paths absolute. */
function services(overrides: string[] = []): Record<string, Service> {
  const key = overrides.join();
  if (!resolved.has(key)) {
    const { status, stdout, stderr } = dockerCompose(overrides, 'config');
    assert.equal(status, 0, `docker-compose config failed:\n${stderr}`);
    resolved.set(key, (parse(stdout) as { services: Record<string, Service> }).services);
  }
  return resolved.get(key)!;
}

function service(name: string, overrides: string[] = []): Service {
  const found = services(overrides)[name];
  assert.ok(found, `docker-compose.yml has no service "${name}"`);
  return found;
}

function environment(svc: Service): Record<string, string> {
  return svc.environment ?? {};
}

/** Condition per dependency. */
function dependencies(svc: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(svc.depends_on ?? {}).map(([name, dep]) => [name, dep.condition]));
}

function buildContext(svc: Service): string {
  assert.ok(svc.build, 'the service has no build context');
  return svc.build.context;
}

function ports(svc: Service): PortMapping[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port !== 'string') return { published: port.published, target: port.target };
    const match = /^(.+):(\d+):(\d+)\/tcp$/.exec(port);
    assert.ok(match, `an unexpected port mapping: ${port}`);
    return { hostIp: match[1], published: Number(match[2]), target: Number(match[3]) };
  });
}

/** Bind mounts and volumes, sources made absolute ("src:target:ro"). */
function mounts(svc: Service): Mount[] {
  return (svc.volumes ?? []).map((volume) => {
    const [source = '', target = '', mode = ''] = volume.split(':');
    return { source: resolve(PROJECT_ROOT, source), target, readOnly: mode.split(',').includes('ro') };
  });
}

/** The healthcheck's command line; fails if the service has none. */
function healthcheckCommand(name: string, svc: Service): string {
  const check = svc.healthcheck;
  assert.ok(check?.test && check.test.length > 0 && !check.disable, `${name} has no healthcheck`);
  assert.notDeepEqual(check.test, ['NONE'], `${name} disables its image's healthcheck`);
  return check.test.join(' ');
}

test('docker-compose accepts docker-compose.yml', () => {
  const { status, stderr } = dockerCompose([], 'config', '-q');
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
  const command = (redis.command ?? []).join(' ');
  // `docker-compose config` writes the shell's $ escaped, as $$.
  assert.match(command, /--requirepass "\$+REDISCLI_AUTH"/);
  const password = environment(redis).REDISCLI_AUTH;
  assert.ok(password, 'the redis service has no REDISCLI_AUTH');
  for (const n of REPLICAS) {
    assert.equal(decodeURIComponent(new URL(environment(service(`chat${n}`)).REDIS_URL ?? '').password), password, `chat${n}`);
  }
});

test("redis runs as the image's `redis` user: its command hands over to the entrypoint with redis-server first", () => {
  const command = (service('redis').command ?? []).join(' ');
  // The official entrypoint drops root only for `redis-server …`; `sh -c` alone would keep it.
  assert.match(command, /\bexec docker-entrypoint\.sh redis-server\b/);
});

test('redis keeps the message log: append-only file on, /data on a named volume', () => {
  const redis = service('redis');
  const command = (redis.command ?? []).join(' ');
  assert.match(command, /--appendonly yes/);
  // docker-compose config writes a bind mount's source as an absolute path, a named volume's as its name.
  const volumes = redis.volumes ?? [];
  assert.ok(
    volumes.some((volume) => /^[\w.-]+:\/data\b/.test(volume)),
    `no named volume on /data: ${volumes.join(', ')}`,
  );
});

for (const n of REPLICAS) {
  test(`chat${n}: replica ${n}, connected to redis, healthy on /healthz, published on 127.0.0.1:${HOST_PORTS.replica(n)} only`, () => {
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
    // Straight to a replica bypasses the front's limits: this host only.
    assert.deepEqual(ports(chat), [{ hostIp: '127.0.0.1', published: HOST_PORTS.replica(n), target: CONTAINER_PORT }]);
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

test('the HAProxy override adds HAProxy on 8090, running haproxy/haproxy.cfg, after healthy replicas', () => {
  const { status, stderr } = dockerCompose([HAPROXY_OVERRIDE], 'config', '-q');
  assert.equal(status, 0, stderr);
  const haproxy = service('haproxy', [HAPROXY_OVERRIDE]);
  assert.deepEqual(
    mounts(haproxy).find((mount) => mount.target === '/usr/local/etc/haproxy/haproxy.cfg'),
    { source: HAPROXY_CFG_PATH, target: '/usr/local/etc/haproxy/haproxy.cfg', readOnly: true },
  );
  assert.deepEqual(ports(haproxy), [{ published: 8090, target: 80 }]);
  assert.deepEqual(dependencies(haproxy), Object.fromEntries(REPLICAS.map((n) => [`chat${n}`, 'service_healthy'])));
});

test('the Traefik override adds Traefik on 8070, and labels every replica with the sticky cookie and the health check', () => {
  const { status, stderr } = dockerCompose([TRAEFIK_OVERRIDE], 'config', '-q');
  assert.equal(status, 0, stderr);
  const traefik = service('traefik', [TRAEFIK_OVERRIDE]);
  assert.deepEqual(ports(traefik), [{ published: 8070, target: 80 }]);
  assert.ok((traefik.command ?? []).includes('--entrypoints.web.address=:80'));
  for (const n of REPLICAS) {
    const labels = service(`chat${n}`, [TRAEFIK_OVERRIDE]).labels ?? {};
    assert.equal(labels['traefik.enable'], 'true', `chat${n}`);
    assert.equal(labels['traefik.http.services.chat.loadbalancer.server.port'], String(CONTAINER_PORT), `chat${n}`);
    assert.equal(labels['traefik.http.services.chat.loadbalancer.sticky.cookie'], 'true', `chat${n}`);
    assert.equal(labels['traefik.http.services.chat.loadbalancer.healthcheck.path'], '/healthz', `chat${n}`);
  }
});

test('the Prometheus override adds Prometheus on 127.0.0.1:9090, with prometheus/ as its config', () => {
  const { status, stderr } = dockerCompose([PROMETHEUS_OVERRIDE], 'config', '-q');
  assert.equal(status, 0, stderr);
  const prometheus = service('prometheus', [PROMETHEUS_OVERRIDE]);
  assert.deepEqual(
    mounts(prometheus).find((mount) => mount.target === '/etc/prometheus'),
    { source: PROMETHEUS_DIR, target: '/etc/prometheus', readOnly: true },
  );
  // Loopback only: Prometheus answers any query about the cluster. (docker-compose writes a port
  // with a host address in the short form.)
  assert.deepEqual(prometheus.ports as unknown, ['127.0.0.1:9090:9090/tcp']);
});

test('the Redis Cluster override: six nodes, published nowhere; every replica on the cluster (REDIS_URL emptied), sharded, after the cluster is created', () => {
  const { status, stderr } = dockerCompose([REDIS_CLUSTER_OVERRIDE], 'config', '-q');
  assert.equal(status, 0, stderr);
  for (const n of [1, 2, 3, 4, 5, 6]) assert.equal(service(`redis-${n}`, [REDIS_CLUSTER_OVERRIDE]).ports, undefined, `redis-${n} is published`);
  for (const number of REPLICAS) {
    const replica = service(`chat${number}`, [REDIS_CLUSTER_OVERRIDE]);
    const env = replica.environment ?? {};
    assert.deepEqual([env.REDIS_URL, env.REDIS_ADAPTER, env.NODE_NUMBER], ['', 'sharded', String(number)]);
    assert.match(env.REDIS_CLUSTER_NODES ?? '', /^redis:\/\/:[^@]+@redis-1:6379,/);
    assert.equal(replica.depends_on?.['redis-cluster-create']?.condition, 'service_completed_successfully');
  }
});
