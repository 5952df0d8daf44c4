import { chromium } from '@playwright/test';
import { startCluster } from './cluster/cluster.js';
const cluster = await startCluster({ basePort: 19080 });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const pages = [];
  for (const [n, name] of [[1, 'Alice'], [3, 'Bob'], [2, 'Carol']] as const) {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    await ctx.addInitScript((nm) => localStorage.setItem('chat-name', nm), name);
    const page = await ctx.newPage();
    page.on('console', (m) => console.log(name, m.type(), m.text()));
    page.on('pageerror', (e) => console.log(name, 'pageerror', e.message));
    await page.goto(cluster.replicas[n - 1]!.url);
    pages.push(page);
  }
  await pages[0]!.waitForSelector('#connection[data-state=connected]');
  await pages[0]!.fill('#message', 'Hello from Alice on instance 1');
  await pages[0]!.press('#message', 'Enter');
  await pages[1]!.fill('#message', 'Hi Alice, Bob here on 3');
  await pages[1]!.press('#message', 'Enter');
  await pages[2]!.type('#message', 'Carol typing');
  await new Promise((r) => setTimeout(r, 1500));
  await pages[0]!.screenshot({ path: '/tmp/shots/desktop.png' });
  await pages[0]!.setViewportSize({ width: 375, height: 800 });
  await pages[0]!.screenshot({ path: '/tmp/shots/phone.png', fullPage: true });
  // first visit
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const page = await ctx.newPage();
  await page.goto(cluster.url);
  await new Promise((r) => setTimeout(r, 500));
  await page.screenshot({ path: '/tmp/shots/first.png' });
} finally {
  await browser.close();
  await cluster.stop();
}
