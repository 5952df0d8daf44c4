/**
 * Rooms in the page, on tabs served by different replicas: creating one, the list every tab sees,
 * switching, a link that opens a room, the unread count of a room not looked at, who is here.
 */
import { expect, test, uniqueText } from './fixtures.js';

test('a room created on one replica is listed on another; a link opens it; messages elsewhere are counted as unread until looked at', async ({
  stack,
  openChat,
}) => {
  const [one, two, three] = [stack.replicas[0]!, stack.replicas[1]!, stack.replicas[2]!];
  const room = uniqueText('room').replace(' ', '-');
  const ada = await openChat({ url: one.url, name: 'Ada-rooms' });
  const bob = await openChat({ url: three.url, name: 'Bob-rooms' });
  await ada.connected();
  await bob.connected();

  // Ada creates it: she is in it at once, and the address is its link.
  await ada.page.getByRole('textbox', { name: 'New room name' }).fill(room);
  await ada.page.getByRole('button', { name: 'Create' }).click();
  await expect(ada.room(room).getByRole('link')).toHaveAttribute('aria-current', 'page');
  expect(new URL(ada.page.url()).searchParams.get('room')).toBe(room);
  // Bob, on another replica, sees it listed.
  await expect(bob.room(room)).toHaveCount(1);

  // Bob speaks in general, where he is looking: Ada, looking at her room, sees a count on general.
  const inGeneral = uniqueText('in general');
  await bob.send(inGeneral);
  await expect(ada.room('general').locator('.unread')).toHaveText('1');
  await expect(ada.shownMessages.filter({ hasText: inGeneral })).toHaveCount(0);
  await ada.room('general').getByRole('link').click();
  await expect(ada.shownMessages.filter({ hasText: inGeneral })).toHaveCount(1);
  await expect(ada.room('general').locator('.unread')).toHaveCount(0);

  // Cy follows a link to the room, on a third replica, and speaks there.
  const cy = await openChat({ url: two.url, name: 'Cy-rooms', path: `/?room=${room}` });
  await cy.connected();
  await expect(cy.room(room).getByRole('link')).toHaveAttribute('aria-current', 'page');
  const inRoom = uniqueText('in the room');
  await cy.send(inRoom);
  await expect(cy.shownMessages.filter({ hasText: inRoom })).toHaveCount(1);
  // Ada, now in general, is told; Bob, who is not in the room, is not.
  await expect(ada.room(room).locator('.unread')).toHaveText('1');
  await expect(bob.room(room).locator('.unread')).toHaveCount(0);
  await ada.room(room).getByRole('link').click();
  await expect(ada.shownMessages.filter({ hasText: inRoom })).toHaveCount(1);
  await expect(ada.shownMessages.filter({ hasText: inGeneral })).toHaveCount(0);
  // Who is here: Ada and Cy, not Bob.
  await expect(ada.page.locator('#here li')).toHaveText(['Ada-rooms', 'Cy-rooms']);

  // A reload keeps Ada in her room, with its conversation.
  await ada.page.reload();
  await ada.connected();
  await expect(ada.shownMessages.filter({ hasText: inRoom })).toHaveCount(1);
});

test('a link to a room that does not exist opens the default room and says so; a bad name is refused before it is sent', async ({ stack, openChat }) => {
  const tab = await openChat({ url: stack.replicas[0]!.url, path: '/?room=no-such-room' });
  await tab.connected();
  await expect(tab.page.locator('#room-error')).toHaveText('There is no room named "no-such-room".');
  await expect(tab.room('general').getByRole('link')).toHaveAttribute('aria-current', 'page');
  await tab.page.getByRole('textbox', { name: 'New room name' }).fill('two words');
  await tab.page.getByRole('button', { name: 'Create' }).click();
  await expect(tab.page.locator('#room-error')).toHaveText(
    'Cannot create this room: room name must be letters, digits, - or _, starting with a letter or digit.',
  );
  await expect(tab.room('two words')).toHaveCount(0);
});
