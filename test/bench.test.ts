/**
 * The benchmark's quick mode, so that `npm run bench` cannot rot: it must start its four setups,
 * and the baseline (here this very commit, built from git), run every scenario, count Redis's
 * work, stop everything and write well-formed results. No timing is asserted: how fast this
 * machine is says nothing about the code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, PROJECT_ROOT, runToExit } from './helpers.js';

test('npm run bench -- --quick runs every setup and scenario, and writes its JSON and chart', { timeout: 180_000 }, async () => {
  const dir = makeTempDir('bench');
  try {
    const finished = await runToExit(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'lab', 'bench', 'bench.ts'), '--quick', '--baseline=HEAD', `--results=${dir}`],
      {
        timeoutMs: 170_000,
      },
    );
    assert.equal(finished.code, 0, finished.stdout + finished.stderr);

    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2, files.join());
    assert.match(readFileSync(join(dir, files[1]!), 'utf8'), /^<svg[\s\S]*<\/svg>\n$/);
    const report = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as {
      quick: boolean;
      results: {
        setup: string;
        capacity: { clients: number }[];
        fanout: {
          acknowledged: number;
          expectedDeliveries: number;
          delivered: number;
          sameReplica: { count: number };
          redisPerMessage: { commands: number; byCommand: Record<string, number> } | null;
        };
        ceiling: { steps: unknown[] };
      }[];
    };
    assert.equal(report.quick, true);
    assert.deepEqual(
      report.results.map((result) => result.setup),
      ['single-direct', 'single-nginx', 'cluster', 'cluster-sharded', 'cluster-no-metrics', 'cluster-baseline'],
    );
    for (const result of report.results) {
      assert.ok(result.capacity.length > 0 && result.capacity.every((step) => step.clients > 0), `${result.setup}: capacity`);
      assert.ok(result.fanout.acknowledged > 0, `${result.setup}: nothing was sent`);
      assert.ok(result.fanout.delivered > 0 && result.fanout.delivered <= result.fanout.expectedDeliveries, `${result.setup}: deliveries`);
      assert.ok(result.fanout.sameReplica.count > 0, `${result.setup}: the probes timed nothing`);
      assert.ok(result.ceiling.steps.length > 0, `${result.setup}: ceiling`);
      // Each message is appended by a script and published: Redis's counts must show both.
      const redis = result.fanout.redisPerMessage;
      if (result.setup.startsWith('cluster'))
        assert.ok(redis?.byCommand.evalsha && redis.commands >= 2, `${result.setup}: Redis's work ${JSON.stringify(redis)}`);
      else assert.equal(redis, null, `${result.setup} has no Redis`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
