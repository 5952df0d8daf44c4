/**
 * One room's conversation as the page shows it (in its own list; the outbox below is shared by all
 * rooms): messages in log order (each with its author, the replica
 * that accepted it, and its time), join and leave notices, and below them the outbox. The list stays
 * scrolled to the newest line, unless the reader has scrolled up to read older ones.
 */
import type { ChatMessage } from '../shared/events.js';
import type { OutboxItem } from './outbox.js';
import type { Placed } from './timeline.js';

/** Within this many pixels of the bottom counts as "at the bottom". */
const STICKY_MARGIN_PX = 40;

export class MessageList {
  readonly #scroller = $('#scroller');
  readonly #outbox = $('#outbox');
  readonly #elements = new Map<string, JQuery>();
  readonly #sentIds = new Set<string>();

  readonly #messages: JQuery;

  /** `$messages`: this room's list, in #messages. */
  constructor($messages: JQuery) {
    this.#messages = $messages;
  }

  /**
   * Adds messages where the timeline placed them. `viewerInstance` is the replica serving this tab:
   * a message accepted by another one crossed replicas through Redis, and is marked so.
   */
  show(placed: readonly Placed[], viewerInstance: string | undefined): void {
    this.#keepingScroll(() => {
      for (const { message, before } of placed) {
        const $item = this.#render(message, viewerInstance);
        const $next = before && this.#elements.get(before.id);
        if ($next) $item.insertBefore($next);
        else this.#messages.append($item);
        this.#elements.set(message.id, $item);
      }
    });
  }

  /** "Alice joined", "Bob left", messages gone from the log: not part of the log, shown where they happen. */
  notice(text: string, kind?: 'missing'): void {
    this.#keepingScroll(() =>
      this.#messages.append(
        $('<li class="notice">')
          .attr('data-notice', kind ?? null)
          .text(text),
      ),
    );
  }

  /** Marks message `id` as sent from this page (now or when it arrives). */
  markSent(id: string): void {
    this.#sentIds.add(id);
    this.#elements.get(id)?.addClass('mine');
  }

  showUnsent(item: OutboxItem, retry: () => void): void {
    let $item = this.#outbox.children(`[data-key="${item.key}"]`);
    if ($item.length === 0) $item = $('<li>').attr('data-key', item.key).appendTo(this.#outbox);
    const status = item.state === 'failed' ? `Not sent: ${item.error}` : item.error ? `Not sent yet (${item.error}), retrying…` : 'Sending…';
    $item.attr('data-state', item.state).empty().append($('<span class="text">').text(item.text), $('<span class="status">').text(status));
    if (item.state === 'failed') $item.append($('<button type="button" class="retry">').text('Retry').on('click', retry));
    // What the user just typed is always brought into view.
    this.#scrollToBottom();
  }

  removeUnsent(key: string): void {
    this.#outbox.children(`[data-key="${key}"]`).remove();
  }

  #render(message: ChatMessage, viewerInstance: string | undefined): JQuery {
    const at = new Date(message.at);
    const crossed = viewerInstance !== undefined && message.instance !== viewerInstance;
    // .text() never parses HTML: whatever a user typed is shown as typed.
    return $('<li>')
      .attr({ 'data-id': message.id, 'data-instance': message.instance, 'data-hop': crossed ? 'remote' : 'local' })
      .toggleClass('mine', this.#sentIds.has(message.id))
      .append(
        $('<span class="author">').text(message.name),
        $('<span class="text">').text(message.text),
        $('<span class="meta">').append(
          $('<span class="via">')
            .text(`via instance #${message.instance}`)
            .attr('title', crossed ? 'Accepted by another replica: it reached this one through Redis' : 'Accepted by the replica serving this tab'),
          $('<time>').attr('datetime', at.toISOString()).text(at.toLocaleTimeString()),
        ),
      );
  }

  #keepingScroll(change: () => void): void {
    const element = this.#scroller[0]!;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < STICKY_MARGIN_PX;
    change();
    if (atBottom) this.#scrollToBottom();
  }

  #scrollToBottom(): void {
    const element = this.#scroller[0]!;
    element.scrollTop = element.scrollHeight;
  }
}
