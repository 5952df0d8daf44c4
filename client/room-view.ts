/**
 * The rooms as the page shows them: each room the page is in has its own list of messages (only the
 * one being looked at is visible), its own timeline and catch-up, who is typing and who is here in
 * it, and a count of messages that arrived while someone looked at another room. The rooms panel
 * lists every room cluster-wide, with those counts.
 */
import type { ChatMessage, Presence } from '../shared/events.js';
import { CatchUp, type CatchUpOptions } from './catch-up.js';
import { MessageList } from './message-list.js';
import { Timeline } from './timeline.js';
import { describeTypists, Typists } from './typing.js';

export class RoomView {
  readonly timeline = new Timeline();
  readonly list: MessageList;
  readonly catchUp: CatchUp;
  readonly typists: Typists;
  here: Presence | undefined;
  /** Messages that arrived while this room was not the one looked at. */
  unread = 0;
  readonly #$list: JQuery;
  /** Until its first catch-up is answered, what arrives is its history, not news. */
  #caughtUpOnce = false;

  constructor(
    readonly name: string,
    options: { request: CatchUpOptions['request']; isLookedAt: () => boolean; viewerInstance: () => string | undefined; onChange: () => void },
  ) {
    this.#$list = $('<ul class="room-messages" aria-live="polite" hidden>')
      .attr({ 'data-room': name, 'aria-label': `Messages in ${name}` })
      .appendTo('#messages');
    this.list = new MessageList(this.#$list);
    const shown = (messages: readonly ChatMessage[]) => {
      const placed = this.timeline.merge(messages);
      this.list.show(placed, options.viewerInstance());
      if (this.#caughtUpOnce && !options.isLookedAt() && placed.length > 0) {
        this.unread += placed.length;
        options.onChange();
      }
    };
    this.catchUp = new CatchUp({
      request: options.request,
      caughtUp: (messages) => {
        shown(messages);
        this.#caughtUpOnce = true;
      },
      missing: () => this.list.notice('Some older messages are no longer available.', 'missing'),
    });
    this.typists = new Typists(() => {
      if (options.isLookedAt()) showTypists(this);
    });
    this.live = (message) => {
      this.typists.stopped(message.name);
      shown([message]);
      this.catchUp.live(message);
    };
  }

  /** A `chat message` of this room. */
  readonly live: (message: ChatMessage) => void;

  /** Makes this the room looked at (or not). */
  lookAt(lookedAt: boolean): void {
    this.#$list.prop('hidden', !lookedAt);
    if (!lookedAt) return;
    this.unread = 0;
    showTypists(this);
  }
}

function showTypists(room: RoomView): void {
  $('#typing').text(describeTypists(room.typists.names()));
}

/** The rooms panel: every room, the one looked at marked, unread counts for the others; each a link. */
export function renderRooms(rooms: readonly string[], lookedAt: string, unread: (room: string) => number): void {
  const $rooms = $('#rooms').empty();
  for (const room of rooms) {
    const count = room === lookedAt ? 0 : unread(room);
    const $link = $('<a>').attr('href', linkTo(room)).text(`#${room}`);
    if (room === lookedAt) $link.attr('aria-current', 'page');
    const $item = $('<li>')
      .attr('data-room', room)
      .toggleClass('current', room === lookedAt)
      .append($link);
    if (count > 0) $item.attr('data-unread', count).append($('<span class="unread">').text(String(count)).attr('aria-label', `${count} unread`));
    $rooms.append($item);
  }
}

/** Who is in the room looked at. */
export function renderHere(room: RoomView, myName: string | undefined): void {
  $('#here-heading')
    .text(`In #${room.name} `)
    .append($('<span id="here-count">').text(room.here ? `(${room.here.count})` : ''));
  const $here = $('#here').empty();
  for (const [name] of room.here?.people ?? [])
    $here.append(
      $('<li>')
        .attr('data-name', name)
        .toggleClass('me', name === myName)
        .text(name),
    );
}

/** The page's address for a room: `/?room=name` (other parameters, such as `transport`, kept). */
export function linkTo(room: string): string {
  const params = new URLSearchParams(location.search);
  params.set('room', room);
  return `?${params}`;
}
