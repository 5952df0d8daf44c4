import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

// Playwright cannot download its browsers everywhere (not on CI here): use the system Chromium when
// there is one, and Playwright's own browser otherwise (a developer laptop after
// `npx playwright install chromium`).
const systemChromium = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

export default defineConfig({
  testDir: '.',
  globalSetup: './global-setup.ts',
  // The specs share one cluster and some stop parts of it: one at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [['list'], ['html', { outputFolder: 'report', open: 'never' }]],
  outputDir: 'results',
  use: {
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: systemChromium,
      args: [
        '--no-sandbox', // runs as root in CI containers
        '--disable-gpu',
        // Keep Chromium from calling home: the test machines have no internet.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-features=AutofillServerCommunication',
      ],
    },
  },
  projects: [
    { name: 'cluster', testIgnore: /failover\.spec\.ts/ },
    // Failover stops a replica for good, so it runs after everything that needs all four.
    { name: 'failover', testMatch: /failover\.spec\.ts/, dependencies: ['cluster'] },
  ],
});
