import { expect, test, uniqueText } from './fixtures.js';

test('typing faster than the rate limit: the excess waits in the outbox with "slow down", then goes out by itself, in order', async ({ stack, openChat }) => {
  const tab = await openChat({ url: stack.replicas[0]!.url });
  await tab.connected();

  // Twice the burst the server allows (10), as fast as the keyboard goes.
  const texts = Array.from({ length: 20 }, (_, n) => uniqueText(`quick ${n}`));
  for (const text of texts) await tab.send(text);

  await expect(tab.outbox.filter({ hasText: 'slow down' }).first()).toBeVisible();
  // At 2 messages a second after the burst, the rest take about 5 s.
  await expect(tab.outbox).toHaveCount(0, { timeout: 15_000 });
  const shown = await tab.messages.locator('.text').allTextContents();
  expect(shown.filter((text) => texts.includes(text))).toEqual(texts);
});
