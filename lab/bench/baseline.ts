/**
 * The benchmark's baseline: the server as it was at another commit (`--baseline=<rev>`), built
 * from `git archive` into a temporary folder with this checkout's node_modules, so that one run
 * measures both side by side. Only the server and what it imports are built; the work tree and
 * the repository are left as they were.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../cluster/topology.js';

interface Baseline {
  /** The commit, abbreviated. */
  commit: string;
  /** Its replica's program. */
  entry: string;
  remove(): void;
}

export function buildBaseline(revision: string): Baseline {
  const commit = execFileSync('git', ['rev-parse', '--short', `${revision}^{commit}`], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), `chat-bench-baseline-${commit}-`));
  try {
    const archive = execFileSync('git', ['archive', commit, 'server', 'shared', 'tsconfig.json', 'package.json'], { cwd: PROJECT_ROOT, maxBuffer: 64 << 20 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'server')], { cwd: dir, stdio: 'inherit' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { commit, entry: join(dir, 'dist', 'server', 'main.js'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
