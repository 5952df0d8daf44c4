/**
 * `npm run dev`: one replica for development. The server restarts when its code changes
 * (`tsx watch`), and the browser client is recompiled when its code changes (`tsc --watch`): reload
 * the page to get it. Both run as direct children, and stop with this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PROJECT_ROOT } from './cluster/topology.js';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const tsx = join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

const children: ChildProcess[] = [
  spawn(process.execPath, [tsc, '-p', 'client', '--watch', '--preserveWatchOutput'], { cwd: PROJECT_ROOT, stdio: 'inherit' }),
  spawn(process.execPath, [tsx, 'watch', 'server/main.ts'], { cwd: PROJECT_ROOT, stdio: 'inherit' }),
];

function stopAll(): void {
  for (const child of children) child.kill('SIGTERM');
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stopAll);
// If either one dies, the other is of no use alone.
for (const child of children) child.once('exit', stopAll);
