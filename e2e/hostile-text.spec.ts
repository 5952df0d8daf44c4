import { expect, test } from './fixtures.js';

const HOSTILE_TEXTS = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '<b>bold?</b> & &amp; "quotes"'];

test('markup in a message shows as literal text in every tab and runs nothing', async ({ stack, openChat }) => {
  const [first, second] = stack.replicas;
  const tabs = [await openChat({ url: first!.url }), await openChat({ url: second!.url })];
  for (const tab of tabs) await tab.connected();

  for (const text of HOSTILE_TEXTS) await tabs[0]!.send(text);

  for (const tab of tabs) {
    for (const text of HOSTILE_TEXTS) await tab.expectMessage(text, String(first!.number));
    // Rendered as text, the markup created no elements and opened no dialog.
    await expect(tab.page.locator('#messages img, #messages script, #messages b')).toHaveCount(0);
    expect(tab.dialogs).toEqual([]);
  }
});
