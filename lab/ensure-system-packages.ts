/**
 * `npm test` runs this first (the `pretest` script): the tests need programs npm cannot install.
 * As root with apt-get, it installs whatever is missing; otherwise it says exactly what to install.
 */
import {
  canInstallPackages,
  CHROMIUM,
  describeMissing,
  DOCKER_COMPOSE,
  findProgram,
  HAPROXY,
  installMissing,
  NGINX,
  PROMETHEUS,
  REDIS_CLI,
  REDIS_SERVER,
  type SystemProgram,
} from './cluster/system-programs.js';

const required: SystemProgram[] = [REDIS_SERVER, REDIS_CLI, NGINX, HAPROXY, PROMETHEUS, DOCKER_COMPOSE];
// Chromium is optional where the browser tests can fall back to Playwright's own download
// (e2e/playwright.config.ts), but on a machine we can install it on, the system one is preferred.
const hasChromium = Boolean(process.env.CHROMIUM_PATH) || findProgram(CHROMIUM.command) !== undefined;
if (!hasChromium && canInstallPackages()) required.push(CHROMIUM);

const stillMissing = installMissing(required);
if (stillMissing.length > 0) {
  console.error(describeMissing(stillMissing));
  process.exit(1);
}

if (!hasChromium && !canInstallPackages()) {
  console.log(
    "No system Chromium (set CHROMIUM_PATH to use one): the browser tests use Playwright's own; if it is not installed, run `npx playwright install chromium`.",
  );
}
