/**
 * `npm test` runs this first (the `pretest` script): the tests need programs npm cannot install.
 * As root with apt-get, it installs whatever is missing; otherwise it says exactly what to install.
 */
import { spawnSync } from 'node:child_process';
import { CHROMIUM, describeMissing, DOCKER_COMPOSE, findProgram, HAPROXY, NGINX, REDIS_SERVER, type SystemProgram } from '../cluster/system-programs.js';

const required: SystemProgram[] = [REDIS_SERVER, NGINX, HAPROXY, DOCKER_COMPOSE];
// Chromium is optional where the browser tests can fall back to Playwright's own download
// (e2e/playwright.config.ts), but on a machine we can install it on, the system one is preferred.
const hasChromium = Boolean(process.env.CHROMIUM_PATH) || findProgram(CHROMIUM.command) !== undefined;
const canInstall = process.getuid?.() === 0 && findProgram('apt-get') !== undefined;

const missing = required.filter((program) => !findProgram(program.command));
if (!hasChromium && canInstall) missing.push(CHROMIUM);

if (missing.length > 0) {
  if (!canInstall) {
    console.error(describeMissing(missing));
    process.exit(1);
  }
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
      process.exit(1);
    }
  }
  const stillMissing = missing.filter((program) => !findProgram(program.command));
  if (stillMissing.length > 0) {
    console.error(describeMissing(stillMissing));
    process.exit(1);
  }
}

if (!hasChromium && !canInstall) {
  console.log(
    "No system Chromium (set CHROMIUM_PATH to use one): the browser tests use Playwright's own; if it is not installed, run `npx playwright install chromium`.",
  );
}
