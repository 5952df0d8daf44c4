import { type ChatPage, clientAddress, expect, test, uniqueText } from './fixtures.js';

test('a message typed on one instance reaches tabs on every instance', async ({ stack, openChat }) => {
  // One tab per replica, each on the replica's own port: no nginx, so only Redis can carry messages across.
  const tabs = new Map<number, ChatPage>();
  for (const replica of stack.replicas) {
    const chat = await openChat({ url: replica.url });
    expect((await chat.connected()).instance).toBe(String(replica.number));
    tabs.set(replica.number, chat);
  }

  const hello = uniqueText('hello from 1');
  await tabs.get(1)!.send(hello);
  for (const tab of tabs.values()) await tab.expectMessage(hello, '1');

  const reply = uniqueText('reply from 3');
  await tabs.get(3)!.send(reply);
  for (const tab of tabs.values()) await tab.expectMessage(reply, '3');
});

test('through nginx, distinct clients land on different instances, upgrade to WebSocket, and chat', async ({ stack, openChat }) => {
  const clients: ChatPage[] = [];
  for (let n = 1; n <= 4; n++) clients.push(await openChat({ url: stack.url, from: clientAddress(n) }));

  const instances = new Set<string>();
  for (const client of clients) {
    await expect(client.connection).toHaveAttribute('data-transport', 'websocket');
    const { instance } = await client.connected();
    // The page and its connection come from the same replica: ip_hash kept the client there.
    await expect(client.heading).toHaveText(`Instance #${instance}`);
    instances.add(instance);
  }
  expect(instances.size).toBeGreaterThanOrEqual(3);

  const sent = await Promise.all(
    clients.map(async (client) => {
      const text = uniqueText('through nginx');
      await client.send(text);
      return { text, instance: (await client.connected()).instance };
    }),
  );
  for (const client of clients) {
    for (const { text, instance } of sent) await client.expectMessage(text, instance);
  }
});
