/**
 * The benchmark's quick mode, so that `npm run bench` cannot rot: it must start every setup, and
 * the baseline (here this very commit, built from git), run every scenario, count deliveries by
 * id, read the processes' CPU and memory, count Redis's work on each of its nodes, profile and
 * snapshot a replica, stop everything and write well-formed results. No timing is asserted: how
 * fast this machine is says nothing about the code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BenchReport, ConnectProfile } from '../lab/bench/results.js';
import { makeTempDir, PROJECT_ROOT, runToExit } from './helpers.js';

test('npm run bench -- --quick runs every setup and scenario, and writes its results', { timeout: 180_000 }, async () => {
  const dir = makeTempDir('bench');
  try {
    const finished = await runToExit(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'lab', 'bench', 'bench.ts'), '--quick', '--baseline=HEAD', `--results=${dir}`],
      { timeoutMs: 170_000 },
    );
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);

    const files = readdirSync(dir).sort();
    const stem = files.find((file) => file.endsWith('-quick.json'))!.replace(/\.json$/, '');
    assert.deepEqual(files, [`${stem}-connect-profiles.json`, `${stem}-replica-heap.json`, `${stem}-replica-profile.json`, `${stem}.json`, `${stem}.svg`]);
    assert.match(readFileSync(join(dir, `${stem}.svg`), 'utf8'), /^<svg[\s\S]*<\/svg>\n$/);
    const report = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8')) as BenchReport;
    assert.equal(report.quick, true);
    assert.deepEqual(
      report.results.map((result) => result.setup),
      [
        'cluster',
        'cluster-baseline',
        'cluster-haproxy',
        'no-log',
        'no-presence',
        'no-guards',
        'no-metrics',
        'no-positions',
        'cluster-sharded',
        'redis-cluster',
      ],
    );
    for (const result of report.results) {
      assert.ok(result.idle.length > 0 && result.idle.every((step) => step.clients > 0), `${result.setup}: idle clients`);
      // A connection takes memory in the replica and in the front: a zero would mean nothing was read.
      const top = result.idle.at(-1)!.perConnection;
      assert.ok(top.replicaHeap > 0 && top.front > 0, `${result.setup}: memory per connection ${JSON.stringify(top)}`);
      // A connect takes CPU in the replica, the front and the generator, and the replica writes at least its handshake.
      const connect = result.idle.at(-1)!.connectCost;
      assert.ok(
        connect.replicaMainThreadCpuMicros > 0 &&
          connect.replicaMainThreadCpuMicros < connect.replicaCpuMicros &&
          connect.frontCpuMicros > 0 &&
          connect.generatorCpuMicros > 0 &&
          connect.replicaBytesWritten > 0,
        `${result.setup}: connect cost ${JSON.stringify(connect)}`,
      );
      // Right after a connect the replicas have work left: a zero would mean nothing was read. The
      // steady window, read the same way, may be 0.0 (a few idle replicas, 600 ms, nothing due).
      assert.ok(
        result.background.clients > 0 && result.background.afterConnectCpuMsPerSecond > 0 && result.background.replicaCpuMsPerSecond >= 0,
        `${result.setup}: background ${JSON.stringify(result.background)}`,
      );
      const scenarios = [result.fanout, ...(result.rooms ? [result.rooms] : []), ...(result.saturation ? [result.saturation] : [])];
      // Clients of the saturated replica bypass the front: the front's CPU is checked where it carries them.
      const throughFront = new Set([result.fanout, result.rooms].flatMap((scenario) => scenario?.windows ?? []));
      assert.equal(result.rooms !== null, ['cluster', 'cluster-sharded', 'redis-cluster'].includes(result.setup), `${result.setup}: rooms`);
      assert.equal(
        result.saturation !== null,
        !['cluster-haproxy', 'cluster-sharded', 'redis-cluster'].includes(result.setup),
        `${result.setup}: one replica at saturation`,
      );
      for (const window of scenarios.flatMap((scenario) => scenario.windows)) {
        assert.ok(window.acknowledged > 0, `${result.setup}: nothing was sent`);
        assert.ok(window.delivered > 0 && window.delivered <= window.expectedDeliveries, `${result.setup}: deliveries`);
        assert.ok(
          window.lost >= 0 && window.late >= 0 && window.delivered + window.late + window.lost === window.expectedDeliveries,
          `${result.setup}: delivered ${window.delivered}, late ${window.late}, lost ${window.lost} of ${window.expectedDeliveries}`,
        );
        assert.ok(window.sameReplica.count > 0, `${result.setup}: the probes timed nothing`);
        const cpu = window.cpuMicrosPerDelivery;
        assert.ok(
          cpu.replicas > 0 && cpu.firstReplica > 0 && cpu.firstReplica <= cpu.replicas && cpu.redis > 0,
          `${result.setup}: CPU per delivery ${JSON.stringify(cpu)}`,
        );
        if (throughFront.has(window)) assert.ok(cpu.front > 0, `${result.setup}: the front's CPU per delivery ${JSON.stringify(cpu)}`);
        assert.ok(window.generatorCores > 0, `${result.setup}: the generators' CPU`);
        assert.equal(window.redisNodes.length, result.setup === 'redis-cluster' ? 6 : 1, `${result.setup}: Redis nodes`);
        assert.ok(
          window.redisNodes.some((node) => node.commands > 0),
          `${result.setup}: Redis's work ${JSON.stringify(window.redisNodes)}`,
        );
        // Each message is published through the adapter (PUBLISH or SPUBLISH); with the Redis log, also appended by a script.
        const commands = window.redisCommandsPerMessage;
        assert.ok((commands.publish ?? commands.spublish ?? 0) > 0, `${result.setup}: ${JSON.stringify(commands)}`);
        if (result.setup === 'no-log') assert.equal(commands.evalsha, undefined, 'no-log appends to no Redis log');
        else assert.ok(commands.evalsha, `${result.setup}: ${JSON.stringify(commands)}`);
      }
    }
    const profile = JSON.parse(readFileSync(join(dir, `${stem}-replica-profile.json`), 'utf8')) as { samples: number; topFunctions: unknown[] };
    assert.ok(profile.samples > 0 && profile.topFunctions.length > 0, 'the profile summary');
    const heap = JSON.parse(readFileSync(join(dir, `${stem}-replica-heap.json`), 'utf8')) as { connections: number; top: unknown[] };
    assert.ok(heap.connections > 0 && heap.top.length > 0, 'the heap diff summary');
    const connects = JSON.parse(readFileSync(join(dir, `${stem}-connect-profiles.json`), 'utf8')) as Record<string, ConnectProfile>;
    for (const setup of ['cluster', 'cluster-baseline']) {
      const profile = connects[setup];
      assert.ok(profile && profile.connections > 0 && profile.busyMicrosPerConnection > 0, `${setup}'s connect profile: ${JSON.stringify(profile)}`);
      assert.ok(Object.keys(profile.byPackage).length > 0 && profile.topFunctions.length > 0, `${setup}'s connect profile has packages and functions`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
