/**
 * The local launcher, `npm run cluster`, run for real: redis-server, the replicas and nginx with
 * the config derived from nginx/nginx.conf; plus the helpers that find those programs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { describeMissing, findProgram, type SystemProgram } from '../lab/cluster/system-programs.js';
import { clusterPorts, replicaNumbers } from '../lab/cluster/topology.js';
import { getHealth, isPortFree, makeTempDir, pollUntil, PROJECT_ROOT, runToExit, withTimeout } from './helpers.js';

// Clear of a user's `npm run cluster` (8080-8089) and of the e2e suite (18080-18089).
const BASE_PORT = 28080;
const CLI = ['--import', 'tsx', 'lab/cluster/cli.ts'];
const START_TIMEOUT_MS = 30_000;

/** Whether any process is left in the process group `pgid`. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster (lab/cluster/cli.ts)', { timeout: 60_000 }, () => {
  const ports = clusterPorts(BASE_PORT);
  const nginxUrl = `http://127.0.0.1:${ports.front}`;
  const allPorts = [ports.front, ...replicaNumbers().map(ports.replica), ports.redis];
  let cli: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let output = '';

  before(async () => {
    for (const port of allPorts) assert.ok(await isPortFree(port), `port ${port} is taken before the test: something else runs there`);
    // Its own process group, so that whatever happens below, `after` can stop the CLI and every
    // child it started (redis-server, replicas, nginx) in one go.
    const child = spawn(process.execPath, CLI, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CLUSTER_PORT: String(BASE_PORT) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    cli = child;
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        output += `${line}\n`;
        if (line === `cluster ready: ${nginxUrl}`) resolve();
      });
      void exited.then((code) => reject(new Error(`the launcher exited (${code}) before it was ready`)));
    });
    await withTimeout(ready, START_TIMEOUT_MS, `"cluster ready: ${nginxUrl}"`).catch((err: Error) => {
      throw new Error(`${err.message}; the launcher's output:\n${output}`);
    });
  });

  after(async () => {
    const pgid = cli?.pid;
    if (pgid === undefined || !groupAlive(pgid)) return;
    process.kill(-pgid, 'SIGTERM');
    await pollUntil(
      async () => groupAlive(pgid),
      (alive) => !alive,
      { what: 'the cluster to stop', timeoutMs: 10_000 },
    ).catch(() => {
      process.kill(-pgid, 'SIGKILL');
    });
  });

  test('nginx answers /healthz from a replica that reaches Redis', async () => {
    const health = await getHealth(nginxUrl);
    assert.equal(health.status, 200);
    assert.equal(health.body.redis, 'up');
    assert.ok(replicaNumbers().map(String).includes(String(health.body.instance)), `instance ${String(health.body.instance)}`);
  });

  test('ip_hash: distinct /24 source addresses spread over the replicas, each address always on one', async () => {
    const instanceFor = async (localAddress: string) => String((await getHealth(nginxUrl, { localAddress })).body.instance);
    const addresses = [0, 1, 2, 3, 4, 5, 6, 7].map((network) => `127.0.${network}.1`);
    const seen = new Map<string, string>();
    for (const address of addresses) seen.set(address, await instanceFor(address));
    const instances = new Set(seen.values());
    assert.ok(instances.size >= 3, `only ${instances.size} instances for ${addresses.length} networks: ${JSON.stringify([...seen])}`);

    for (const address of addresses.slice(0, 4)) {
      for (let i = 0; i < 3; i += 1) assert.equal(await instanceFor(address), seen.get(address), `${address}, request ${i + 2}`);
    }
  });

  // Last: it stops the cluster the tests above use.
  test('SIGTERM stops the launcher with exit code 0 and frees every port', async () => {
    const pgid = cli?.pid;
    assert.ok(pgid, 'the launcher was not started');
    process.kill(pgid, 'SIGTERM');
    assert.equal(await withTimeout(exited, 15_000, 'the launcher to exit after SIGTERM'), 0, output);
    await pollUntil(
      async () => groupAlive(pgid),
      (alive) => !alive,
      { what: 'no process left of the cluster', timeoutMs: 5000 },
    );
    for (const port of allPorts) assert.ok(await isPortFree(port), `port ${port} is still in use`);
  });
});

describe('lab/cluster/cli.ts with a bad CLUSTER_PORT', () => {
  test('CLUSTER_PORT=abc: exit 1, one line naming CLUSTER_PORT', async () => {
    const result = await runToExit(process.execPath, CLI, { env: { ...process.env, CLUSTER_PORT: 'abc' } });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /\bCLUSTER_PORT\b/);
    assert.doesNotMatch(result.stdout, /cluster ready/);
  });
});

describe('findProgram and describeMissing', () => {
  let dir: string;
  before(() => {
    dir = makeTempDir('programs');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fake: SystemProgram = { command: 'chat-test-no-such-program', debianPackage: 'chat-test-no-such-package', usedFor: 'testing' };

  test('finds an executable on the given PATH', () => {
    const path = join(dir, 'chat-test-program');
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    assert.equal(findProgram('chat-test-program', `/nonexistent:${dir}`), path);
  });

  test('skips a file that is not executable', () => {
    const path = join(dir, 'chat-test-not-executable');
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o644);
    assert.equal(findProgram('chat-test-not-executable', dir), undefined);
  });

  test('undefined for a program on neither PATH nor the sbin folders', () => {
    assert.equal(findProgram(fake.command, dir), undefined);
    assert.equal(findProgram(fake.command, ''), undefined);
  });

  test('describeMissing names each program and the apt-get command that installs them', () => {
    const other: SystemProgram = { command: 'chat-test-other', debianPackage: 'chat-test-other-package', usedFor: 'testing too' };
    const message = describeMissing([fake, other]);
    assert.match(message, /chat-test-no-such-program/);
    assert.match(message, /chat-test-other\b/);
    assert.match(message, /apt-get install -y chat-test-no-such-package chat-test-other-package/);
  });
});
