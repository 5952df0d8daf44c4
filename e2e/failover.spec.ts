import { clientAddress, expect, screenshotPath, test, uniqueText } from './fixtures.js';

// Runs last (the `failover` project depends on all the others): the replica it stops stays down.
test('when its replica stops, a page reconnects through nginx to another one, catches up, and chats again', async ({ stack, openChat }) => {
  const survivor = await openChat({ url: stack.url, from: clientAddress(1) });
  const before = (await survivor.connected()).instance;
  const serving = stack.replicas.find((replica) => String(replica.number) === before)!;
  // A page on another replica, reached directly, that keeps talking through the failover.
  const other = stack.replicas.find((replica) => replica !== serving)!;
  const peer = await openChat({ url: other.url });
  await peer.connected();

  process.kill(serving.pid, 'SIGKILL');
  // Said while the survivor has no connection: it must catch up on it after reconnecting.
  const whileAway = uniqueText('while you were away');
  await peer.send(whileAway);

  // Socket.IO reconnects by itself; nginx sends the same client to a live replica.
  await expect(survivor.connection).not.toHaveAttribute('data-instance', before, { timeout: 10_000 });
  const after = (await survivor.connected()).instance;
  await expect(survivor.connection).toContainText(`#${after}`);
  await survivor.expectMessage(whileAway, String(other.number));
  await expect(survivor.message(whileAway)).toHaveCount(1);

  const fromSurvivor = uniqueText('after failover');
  await survivor.send(fromSurvivor);
  await peer.expectMessage(fromSurvivor, after);

  const fromPeer = uniqueText('welcome back');
  await peer.send(fromPeer);
  await survivor.expectMessage(fromPeer, String(other.number));

  // The dead replica's report expires, and the panel shows the three that are left: the README's picture.
  await expect(survivor.instances).toHaveCount(stack.replicas.length - 1, { timeout: 15_000 });
  await expect(survivor.instances.filter({ hasText: `#${before} ` })).toHaveCount(0);
  await survivor.page.screenshot({ path: screenshotPath('failover.png') });
});
