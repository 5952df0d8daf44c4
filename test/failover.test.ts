/**
 * Failover with catch-up, through the real nginx: a client's replica is SIGKILLed while the others
 * keep chatting; the client reconnects through nginx to a live replica, asks for what it missed
 * (`lastSeenId`), and ends up holding every acknowledged message exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startCluster, type RunningCluster } from '../cluster/cluster.js';
import { assertExactlyOnce, connectChatClient, ListeningClient, pollUntil, sendMessage, type ChatSocket } from './helpers.js';

// Clear of a user's `npm run cluster` (8080-8089), the e2e suite (18080-) and the other Node tests.
const BASE_PORT = 28380;
/** The others' pace: a steady conversation. */
const SEND_INTERVAL_MS = 100;

describe('failover through nginx, with catch-up', { timeout: 60_000 }, () => {
  let cluster: RunningCluster;
  before(async () => {
    cluster = await startCluster({ basePort: BASE_PORT });
  });
  after(() => cluster?.stop());

  test('a client whose replica is SIGKILLed mid-conversation reconnects elsewhere and holds every message exactly once', async (t) => {
    const victim = await ListeningClient.connect(cluster.url, { localAddress: '127.0.1.1', reconnection: true });
    t.after(() => victim.close());
    const [victimInstance] = victim.welcomes;
    const doomed = cluster.replicas.find((replica) => String(replica.number) === victimInstance);
    assert.ok(doomed, `the client is on instance ${victimInstance}, which the cluster does not list`);

    // Two people on two other replicas, talking the whole time.
    const talkers: ChatSocket[] = [];
    for (const replica of cluster.replicas.filter((r) => r !== doomed).slice(0, 2)) {
      const { socket } = await connectChatClient(replica.url);
      t.after(() => socket.close());
      talkers.push(socket);
    }
    const acked: string[] = [];
    let talking = true;
    const conversation = (async () => {
      for (let n = 0; talking; n++) {
        const result = await sendMessage(talkers[n % talkers.length]!, `failover ${n}`);
        if (result !== 'no answer' && result.ok) acked.push(result.id);
        await delay(SEND_INTERVAL_MS);
      }
    })();

    try {
      await pollUntil(async () => acked.length, (count) => count >= 5, { what: 'the conversation to start' });
      process.kill(doomed.process.pid, 'SIGKILL');
      await pollUntil(async () => victim.welcomes.length, (count) => count >= 2, { what: 'the client to reconnect' });
      const atReconnect = acked.length;
      await pollUntil(async () => acked.length, (count) => count >= atReconnect + 5, { what: 'more messages after the reconnect' });
    } finally {
      talking = false;
      await conversation;
    }

    assert.notEqual(victim.welcomes[1], victimInstance, 'it reconnected to the replica that was killed');
    await victim.waitForIds(acked, 'every message of the conversation on the failed-over client');
    assertExactlyOnce(victim, acked, 'the failed-over client');
  });
});
