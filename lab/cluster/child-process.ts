/** Starting, watching and stopping the launcher's child processes, each logging to its own file. */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** How long a child gets to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5000;
const POLL_INTERVAL_MS = 100;

export interface ChildService {
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with the exit code (or the signal's name) when the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

/** Starts `command` directly (no shell, no npx) so its PID is the process to stop. */
export function startService(name: string, command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv }): ChildService {
  const log = openSync(options.logFile, 'w');
  const child = spawn(command, args, { stdio: ['ignore', log, log], env: options.env ?? process.env });
  closeSync(log); // the child has its own copy of the descriptor
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);

  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });

  return {
    name,
    pid: child.pid,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    stop: async () => {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The last lines a child logged, for error messages. */
function logTail(service: ChildService, lines = 15): string {
  return readFileSync(service.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Polls `isReady` until it answers true. Fails early, with the end of the child's log, if the
 * child exits first, and fails after `timeoutMs` otherwise.
 */
export async function waitUntilReady(service: ChildService, isReady: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!service.hasExited()) {
    if (await isReady().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${service.name} was not ready after ${timeoutMs} ms. End of ${service.logFile}:\n${logTail(service)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  const how = await service.exited;
  throw new Error(`${service.name} exited (${how}) before it was ready. End of ${service.logFile}:\n${logTail(service)}`);
}
