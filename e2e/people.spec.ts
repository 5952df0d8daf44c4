/**
 * People and the cluster in the page: tabs on different replicas see the same people, each other's
 * comings and goings and typing, and the same cluster panel, at a desktop's and a phone's width.
 */
import { expect, test, uniqueText, type ChatPage } from './fixtures.js';

const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 375, height: 760 },
};

for (const [device, viewport] of Object.entries(VIEWPORTS)) {
  test(`${device}: names, join and leave, typing and the cluster panel, seen from tabs on two replicas`, async ({ stack, openChat }) => {
    const [one, three] = [stack.replicas[0]!, stack.replicas[2]!];
    const ada = `Ada-${device}`;
    const bob = `Bob-${device}`;
    const adaTab = await openChat({ url: one.url, name: ada, viewport });
    await adaTab.connected();
    await expect(adaTab.page.locator('#my-name')).toHaveText(ada);
    const bobTab = await openChat({ url: three.url, name: bob, viewport });
    await bobTab.connected();

    // Each sees both, each on the right replica, and the count matches the list.
    for (const tab of [adaTab, bobTab]) {
      await expect(tab.person(ada)).toContainText('#1');
      await expect(tab.person(bob)).toContainText('#3');
      await expect(tab.onlineCount).toHaveText(`(${await tab.people.count()})`);
    }
    await expect(adaTab.notices.filter({ hasText: `${bob} joined` })).toHaveCount(1);

    // Typing shows on the other replica, then clears after a few seconds of silence.
    await bobTab.page.getByRole('textbox', { name: 'Message' }).pressSequentially('hel');
    await expect(adaTab.typing).toHaveText(`${bob} is typing…`);
    await expect(adaTab.typing).toHaveText('', { timeout: 6000 });

    // A message shows its author and where it came from; the hop through Redis is marked.
    const hello = uniqueText('hello from Bob');
    await bobTab.send(hello);
    await adaTab.expectMessage(hello, '3');
    await expect(adaTab.message(hello)).toContainText(bob);
    await expect(adaTab.message(hello)).toHaveAttribute('data-hop', 'remote');
    await expect(bobTab.message(hello)).toHaveAttribute('data-hop', 'local');

    // The cluster panel: all four replicas; this tab's own marked; a link to each.
    for (const [tab, serving] of [
      [adaTab, one],
      [bobTab, three],
    ] as const) {
      await expect(tab.instances).toHaveCount(stack.replicas.length);
      await expect(tab.instance(serving.number)).toHaveClass(/current/);
      await expect(tab.page.locator('#instances li.current')).toHaveCount(1);
      await expect(tab.instance(serving.number).getByRole('link')).toHaveAttribute('href', serving.url);
      expect(Number(await tab.instance(serving.number).getAttribute('data-connections'))).toBeGreaterThanOrEqual(1);
    }

    // Nothing sticks out sideways, even at a phone's width.
    expect(await adaTab.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    // Bob closes his tab: after the grace period, Ada is told, and the list no longer has him.
    await bobTab.page.close();
    await expect(adaTab.notices.filter({ hasText: `${bob} left` })).toHaveCount(1, { timeout: 15_000 });
    await expect(adaTab.person(bob)).toHaveCount(0);
  });
}

test('the cluster panel counts the connections of each replica', async ({ stack, openChat }) => {
  const tabs: ChatPage[] = [];
  for (const replica of [stack.replicas[1]!, stack.replicas[1]!, stack.replicas[3]!]) {
    const tab = await openChat({ url: replica.url });
    await tab.connected();
    tabs.push(tab);
  }
  const [watcher] = tabs;
  // At least these tabs: other specs' pages may still be closing.
  await expect.poll(async () => Number(await watcher!.instance(2).getAttribute('data-connections'))).toBeGreaterThanOrEqual(2);
  await expect.poll(async () => Number(await watcher!.instance(4).getAttribute('data-connections'))).toBeGreaterThanOrEqual(1);
  await tabs[1]!.page.close();
  await tabs[2]!.page.close();
  await expect.poll(async () => Number(await watcher!.instance(4).getAttribute('data-connections'))).toBe(0);
  await expect.poll(async () => Number(await watcher!.instance(2).getAttribute('data-connections'))).toBe(1);
});

test('a first visit asks for a name, refuses one the page can tell is bad, and remembers a good one', async ({ stack, openChat }) => {
  const tab = await openChat({ url: stack.replicas[0]!.url, name: null });
  await expect(tab.nameDialog).toBeVisible();
  const field = tab.nameDialog.getByRole('textbox', { name: 'Your name' });
  await field.fill('x'.repeat(25));
  await field.press('Enter');
  await expect(tab.nameDialog.getByRole('alert')).toHaveText('That name cannot be used: name is longer than 24 characters.');
  await field.fill('  Grace Hopper ');
  await field.press('Enter');
  await expect(tab.nameDialog).toBeHidden();
  await tab.connected();
  await expect(tab.page.locator('#my-name')).toHaveText('Grace Hopper');

  await tab.page.reload();
  await tab.connected();
  await expect(tab.nameDialog).toBeHidden();
  await expect(tab.person('Grace Hopper')).toBeVisible();
});

test('a name the server refuses brings the dialog back with the server’s reason', async ({ stack, openChat }) => {
  // As if an old page had stored a name the server does not accept: the server, not the page, decides.
  const tab = await openChat({ url: stack.replicas[1]!.url, name: 'Zero\u200bWidth' });
  await expect(tab.nameDialog).toBeVisible();
  await expect(tab.nameDialog.getByRole('alert')).toHaveText('The server refused that name: name must not contain control or invisible characters.');
  await expect(tab.connection).toContainText('refused');
  await tab.nameDialog.getByRole('textbox', { name: 'Your name' }).fill('Zero Width');
  await tab.nameDialog.getByRole('button', { name: 'Join the chat' }).click();
  await tab.connected();
  await expect(tab.page.locator('#my-name')).toHaveText('Zero Width');
});

test('keyboard only: open the explainer, change the name, send a message', async ({ stack, openChat }) => {
  const tab = await openChat({ url: stack.replicas[2]!.url, name: 'Keys' });
  await tab.connected();
  const { page } = tab;
  await page.locator('summary').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('#explainer')).toHaveAttribute('open', '');
  await expect(page.locator('#explainer')).toContainText('ip_hash');

  await page.getByRole('button', { name: 'Change name' }).focus();
  await page.keyboard.press('Enter');
  await expect(tab.nameDialog).toBeVisible();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Keyboard');
  await page.keyboard.press('Enter');
  await expect(page.locator('#my-name')).toHaveText('Keyboard');

  const text = uniqueText('typed, never clicked');
  await page.getByRole('textbox', { name: 'Message' }).focus();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  await tab.expectMessage(text, '3');
  await expect(tab.message(text)).toContainText('Keyboard');
});

test('the list follows new messages, unless the reader has scrolled up to read older ones', async ({ stack, openChat }) => {
  const reader = await openChat({ url: stack.replicas[0]!.url, viewport: { width: 800, height: 500 } });
  const writer = await openChat({ url: stack.replicas[1]!.url });
  await reader.connected();
  await writer.connected();
  const distanceFromBottom = () => reader.page.locator('#scroller').evaluate((element) => element.scrollHeight - element.scrollTop - element.clientHeight);

  // Tall messages overflow the list within the rate limit's burst of 10.
  for (let n = 0; n < 7; n++) await writer.send(uniqueText(`filler ${n}\nsecond line\nthird line\nfourth line`));
  const last = uniqueText('the newest');
  await writer.send(last);
  await reader.expectMessage(last, '2');
  const overflow = await reader.page.locator('#scroller').evaluate((element) => element.scrollHeight - element.clientHeight);
  expect(overflow, 'the fillers must overflow the list for this test to mean anything').toBeGreaterThan(100);
  await expect.poll(distanceFromBottom).toBeLessThan(5);

  await reader.page.locator('#scroller').evaluate((element) => (element.scrollTop = 0));
  const later = uniqueText('while scrolled up');
  await writer.send(later);
  await reader.expectMessage(later, '2');
  expect(await reader.page.locator('#scroller').evaluate((element) => element.scrollTop)).toBe(0);
});
