/**
 * A graceful stop (SIGTERM, as `docker compose stop` sends) exits 0 within its budget whatever its
 * clients do: one client's process is frozen (SIGSTOP) while it holds a WebSocket, so it never
 * answers the close; it is cut after CLOSE_GRACE_MS, and the responsive client is closed as usual
 * (it would reconnect elsewhere: the rolling-restart test follows such clients).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startService, waitUntilReady, type ChildService } from '../lab/cluster/child-process.js';
import { redisUrlFor } from '../lab/cluster/cluster.js';
import { connectChatClient, freePort, makeTempDir, PROJECT_ROOT, startRedis, startReplica, withTimeout } from './helpers.js';

const WEBSOCKET_CLIENT = join(PROJECT_ROOT, 'test', 'fixtures', 'websocket-client.ts');
/** The drain's spread and the grace for unanswered closes, with a margin: well under the 8 s watchdog of server/main.ts. */
/** The replica's drain timings (DRAIN_SPREAD_MS, DRAIN_CLOSE_GRACE_MS): the defaults, set here. */
const DRAIN_SPREAD_MS = 2000;
const CLOSE_GRACE_MS = 1000;
const STOP_BUDGET_MS = DRAIN_SPREAD_MS + CLOSE_GRACE_MS + 2000;

let dir: string;
let redis: ChildService;
let redisUrl: string;

before(async () => {
  dir = makeTempDir('graceful-stop');
  const redisPort = await freePort();
  redis = await startRedis({ port: redisPort, dir });
  redisUrl = redisUrlFor(redisPort);
});
after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM with one client frozen while it holds a WebSocket: the replica exits 0 within its budget, and the other client is closed', async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { DRAIN_SPREAD_MS: String(DRAIN_SPREAD_MS), DRAIN_CLOSE_GRACE_MS: String(CLOSE_GRACE_MS) };
  const replica = await startReplica({ number: 1, port, redisUrl, dir, env });
  t.after(() => replica.stop());

  const frozen = startService('frozen client', process.execPath, ['--import', 'tsx', WEBSOCKET_CLIENT, url], { logFile: join(dir, 'frozen-client.log') });
  t.after(async () => {
    process.kill(frozen.pid, 'SIGCONT'); // a stopped process acts on SIGTERM only once continued
    await frozen.stop();
  });
  await waitUntilReady(frozen, async () => readFileSync(frozen.logFile, 'utf8').includes('welcomed\n'));
  process.kill(frozen.pid, 'SIGSTOP');
  const { socket: responsive } = await connectChatClient(url);
  t.after(() => responsive.close());
  const closed = new Promise<string>((resolve) => responsive.once('disconnect', resolve));

  const signalledAt = Date.now();
  process.kill(replica.pid, 'SIGTERM');
  const exit = await withTimeout(replica.exited, 10_000, 'the replica to exit');
  const tookMs = Date.now() - signalledAt;
  t.diagnostic(`exited ${exit} ${tookMs} ms after SIGTERM`);
  assert.equal(exit, 0, `the replica exited ${exit}; its log:\n${readFileSync(replica.logFile, 'utf8')}`);
  assert.ok(tookMs < STOP_BUDGET_MS, `the stop took ${tookMs} ms, over ${STOP_BUDGET_MS}`);
  // Closed by the server's transport, not disconnected by it: a Socket.IO client reconnects after this.
  assert.equal(await closed, 'transport close');
});
