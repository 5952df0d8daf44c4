/**
 * The programs outside npm this project runs, where to find them, and how to install them. Used by
 * the launcher (which needs redis-server and nginx) and by `npm test`'s set-up step (which needs all).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface SystemProgram {
  command: string;
  /** The Debian/Ubuntu package that provides it. */
  debianPackage: string;
  usedFor: string;
}

export const REDIS_SERVER: SystemProgram = { command: 'redis-server', debianPackage: 'redis-server', usedFor: 'the local cluster and the tests' };
export const REDIS_CLI: SystemProgram = {
  command: 'redis-cli',
  debianPackage: 'redis-tools',
  usedFor: 'creating the local Redis Cluster (CLUSTER_REDIS=cluster) and its tests',
};
export const NGINX: SystemProgram = { command: 'nginx', debianPackage: 'nginx', usedFor: 'the local cluster and the tests' };
export const HAPROXY: SystemProgram = { command: 'haproxy', debianPackage: 'haproxy', usedFor: 'the HAProxy front and its tests' };
export const PROMETHEUS: SystemProgram = { command: 'prometheus', debianPackage: 'prometheus', usedFor: 'the metrics tests and CLUSTER_PROMETHEUS=1' };
export const PROMTOOL: SystemProgram = { command: 'promtool', debianPackage: 'prometheus', usedFor: 'checking the alert rules' };
export const DOCKER_COMPOSE: SystemProgram = { command: 'docker-compose', debianPackage: 'docker-compose', usedFor: 'checking docker-compose.yml' };
export const CHROMIUM: SystemProgram = { command: 'chromium', debianPackage: 'chromium', usedFor: 'the browser tests' };

// Debian installs nginx in /usr/sbin, which is not on an ordinary user's PATH.
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of `command` on PATH or in the sbin folders, or undefined. */
export function findProgram(command: string, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...searchPath.split(delimiter).filter(Boolean), ...SBIN_DIRS]) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The shell command that installs the given programs. */
function installCommand(programs: SystemProgram[]): string {
  return `sudo apt-get install -y ${programs.map((program) => program.debianPackage).join(' ')}`;
}

/** One line per missing program, saying what it is for and how to install it. */
export function describeMissing(programs: SystemProgram[]): string {
  const lines = programs.map((program) => `  ${program.command} (for ${program.usedFor})`);
  return [
    `Missing programs:`,
    ...lines,
    `Install them with: ${installCommand(programs)}`,
    `(other systems: the same names from your package manager, e.g. brew install redis nginx)`,
  ].join('\n');
}

/** Whether this process can install Debian packages itself: root, with apt-get. */
export function canInstallPackages(): boolean {
  return process.getuid?.() === 0 && findProgram('apt-get') !== undefined;
}

/**
 * Installs whichever of `programs` are missing, with apt-get, where canInstallPackages(); returns
 * those still missing (all of them where it cannot install), for describeMissing().
 */
export function installMissing(programs: SystemProgram[]): SystemProgram[] {
  const missing = programs.filter((program) => !findProgram(program.command));
  if (missing.length === 0 || !canInstallPackages()) return missing;
  const packages = missing.map((program) => program.debianPackage);
  console.log(`Installing ${packages.join(', ')} with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', ...packages],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
      break;
    }
  }
  return missing.filter((program) => !findProgram(program.command));
}

/** Thrown when a program is not installed; the message says how to install it. */
export class MissingProgramsError extends Error {
  override name = 'MissingProgramsError';
}

/** Checks all at once, so the message names every missing program, not just the first. */
export function requirePrograms(programs: SystemProgram[]): void {
  const missing = programs.filter((program) => !findProgram(program.command));
  if (missing.length > 0) throw new MissingProgramsError(describeMissing(missing));
}

/** The absolute path of `program`, or a MissingProgramsError. */
export function requireProgram(program: SystemProgram): string {
  const path = findProgram(program.command);
  if (!path) throw new MissingProgramsError(describeMissing([program]));
  return path;
}
