import { expect, test } from './fixtures.js';

test('each replica names itself in the title and heading', async ({ stack, openChat }) => {
  expect(stack.replicas.map((replica) => replica.number)).toEqual([1, 2, 3, 4]);
  for (const replica of stack.replicas) {
    const chat = await openChat({ url: replica.url });
    await expect(chat.page).toHaveTitle(`Instance #${replica.number}`);
    await expect(chat.heading).toHaveText(`Instance #${replica.number}`);
  }
});
