/**
 * The benchmark's baseline: the server as it was at another commit (`--baseline=<rev>`), built
 * from `git archive` into a temporary folder with this checkout's node_modules (emitted by tsc
 * without checking its types again), so that one run measures both side by side. Only the server
 * and what it imports are built; the work tree and the repository are left as they were.
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

/** Where a commit keeps its server: today's tree, or the single `src/` of the plain chat (d6a3135 and before). */
const LAYOUTS = [
  { marker: 'server/tsconfig.json', files: ['server', 'shared', 'tsconfig.json', 'package.json'], project: 'server', entry: 'dist/server/main.js' },
  {
    marker: 'tsconfig.build.json',
    files: ['src', 'tsconfig.json', 'tsconfig.base.json', 'tsconfig.build.json', 'package.json'],
    project: 'tsconfig.build.json',
    entry: 'dist/main.js',
  },
];

const git = (args: string[], options: { maxBuffer?: number } = {}) =>
  execFileSync('git', args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });

export function buildBaseline(revision: string): Baseline {
  const commit = git(['rev-parse', '--short', `${revision}^{commit}`], {})
    .toString()
    .trim();
  const layout = LAYOUTS.find(({ marker }) => {
    try {
      git(['cat-file', '-e', `${commit}:${marker}`]);
      return true;
    } catch {
      return false;
    }
  });
  if (!layout) throw new Error(`${commit}: no server this benchmark knows how to build (neither ${LAYOUTS.map((l) => l.marker).join(' nor ')})`);
  const dir = mkdtempSync(join(tmpdir(), `chat-bench-baseline-${commit}-`));
  try {
    const archive = git(['archive', commit, ...layout.files], { maxBuffer: 64 << 20 });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    // Emit only: that commit's types were checked when it was made, and checking them again
    // would double the build (this checkout's typescript may also be newer than its own).
    execFileSync(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, layout.project), '--noCheck'], {
      cwd: dir,
      stdio: 'inherit',
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { commit, entry: join(dir, layout.entry), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
