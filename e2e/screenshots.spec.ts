/**
 * The pictures of the page in the README and docs/, taken by the suite on every run, so that taking them keeps
 * working: a conversation across three replicas, the cluster panel and the online list, at a
 * desktop's width and a phone's, and two replicas side by side. `npm run screenshots` writes them
 * to docs/screenshots/ (see screenshotPath).
 */
import { expect, screenshotPath, test } from './fixtures.js';

test('screenshots of a conversation across three replicas', async ({ stack, openChat }) => {
  // A tab an earlier test closed while still long-polling stays connected on its replica until
  // Socket.IO's heartbeat gives up on it (pingInterval + pingTimeout: 45 s), and listed with it.
  test.setTimeout(90_000);
  const [one, two, three] = stack.replicas;
  const ada = await openChat({ url: one!.url, name: 'Ada', viewport: { width: 1100, height: 640 } });
  await ada.connected();
  const bob = await openChat({ url: three!.url, name: 'Bob' });
  await bob.connected();
  const chen = await openChat({ url: two!.url, name: 'Chen' });
  await chen.connected();

  const lines: [typeof ada, string, string][] = [
    [ada, 'Hi! I am on instance 1.', '1'],
    [bob, 'Hello Ada, instance 3 here: your message came through Redis.', '3'],
    [chen, 'Same on instance 2. Try killing a replica and watch the panel.', '2'],
    [ada, 'Nice: the purple ones crossed replicas.', '1'],
  ];
  for (const [tab, text, instance] of lines) {
    await tab.send(text);
    await ada.expectMessage(text, instance);
  }
  await expect(ada.people).toHaveCount(3, { timeout: 50_000 });
  await bob.page.getByRole('textbox', { name: 'Message' }).pressSequentially('one more');
  await expect(ada.typing).toHaveText('Bob is typing…');

  await ada.page.screenshot({ path: screenshotPath('chat-desktop.png') });

  // Ada's tab on instance 1 and Bob's on instance 3, side by side, as two browser windows would be.
  const halves = [];
  for (const tab of [ada, bob]) {
    await tab.page.setViewportSize({ width: 820, height: 640 });
    halves.push((await tab.page.screenshot()).toString('base64'));
  }
  const sideBySide = await ada.page.context().newPage();
  await sideBySide.setViewportSize({ width: 1650, height: 640 });
  await sideBySide.setContent(
    `<body style="margin:0;display:flex;gap:10px;background:#888">${halves.map((png) => `<img src="data:image/png;base64,${png}">`).join('')}</body>`,
  );
  await sideBySide.screenshot({ path: screenshotPath('chat-side-by-side.png') });

  await ada.page.setViewportSize({ width: 375, height: 760 });
  await ada.page.screenshot({ path: screenshotPath('chat-phone.png'), fullPage: true });
});
