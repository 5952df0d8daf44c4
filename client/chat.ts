/**
 * The browser side of the chat. `io` comes from /socket.io/socket.io.js and `$` from jQuery, both
 * loaded by views/index.ejs; the event types are the server's own (shared/events.ts).
 */
import type { Socket } from 'socket.io-client';
import type { ChatMessage, ClientToServerEvents, HandshakeAuth, ServerToClientEvents } from '../shared/events.js';
import { Outbox, type OutboxItem } from './outbox.js';
import { Timeline } from './timeline.js';

/**
 * How long to wait for the server's answer before sending again. Above the server's own Redis
 * timeout (2 s), so that a slow Redis normally gets a reasoned answer rather than silence.
 */
const ACK_TIMEOUT_MS = 5000;

const timeline = new Timeline();
/** Ids of the messages this page sent, to mark them as ours. */
const sentIds = new Set<string>();

// `?transport=polling` (or `websocket`) pins the transport, to watch long-polling through nginx.
const forcedTransport = new URLSearchParams(location.search).get('transport');
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  transports: forcedTransport === 'polling' || forcedTransport === 'websocket' ? [forcedTransport] : undefined,
  // A function, so that every reconnect asks for what was said since the newest message held.
  auth: (send) => send({ lastSeenId: timeline.catchUpCursor() } satisfies HandshakeAuth),
});

const $connection = $('#connection');
const $messages = $('#messages');
const $outbox = $('#outbox');
const $input = $('#message');
const messageElements = new Map<string, JQuery>();

/** Shows which replica holds the connection and over which transport; tests read the data-* too. */
function showConnection(state: 'connecting' | 'connected' | 'disconnected', detail: string): void {
  $connection.attr('data-state', state).text(detail);
}

function transportName(): string {
  return socket.io.engine.transport.name;
}

function showConnected(instance: string): void {
  $connection.attr({ 'data-instance': instance, 'data-transport': transportName() });
  showConnection('connected', `Connected to instance #${instance} over ${transportName()}`);
}

socket.on('welcome', ({ instance }) => {
  showConnected(instance);
  // Socket.IO starts on long-polling and upgrades to WebSocket when it can; show when it does.
  socket.io.engine.once('upgrade', () => showConnected(instance));
});

socket.on('connect', () => outbox.flush());
socket.on('disconnect', (reason) => showConnection('disconnected', `Disconnected (${reason}), reconnecting…`));
socket.on('connect_error', (err) => showConnection('disconnected', `Cannot connect (${err.message}), retrying…`));

function renderMessage(message: ChatMessage): JQuery {
  // .text() never parses HTML: whatever a user typed is shown as typed.
  return $('<li>')
    .attr({ 'data-id': message.id, 'data-instance': message.instance })
    .toggleClass('mine', sentIds.has(message.id))
    .append(
      $('<span class="text">').text(message.text),
      $('<span class="via">').text(`via instance #${message.instance}`),
      $('<time>').attr('datetime', new Date(message.at).toISOString()).text(new Date(message.at).toLocaleTimeString()),
    );
}

/** Adds what is new, each in its place in log order; what the page already shows is skipped. */
function showMessages(messages: readonly ChatMessage[]): void {
  for (const { message, before } of timeline.merge(messages)) {
    const $item = renderMessage(message);
    const $next = before && messageElements.get(before.id);
    if ($next) $item.insertBefore($next);
    else $messages.append($item);
    messageElements.set(message.id, $item);
  }
  scrollToNewest();
}

/** The newest line is the last unsent message if there is one, else the last message. */
function scrollToNewest(): void {
  const $newest = $outbox.children().length > 0 ? $outbox.children().last() : $messages.children().last();
  $newest[0]?.scrollIntoView({ block: 'end' });
}

socket.on('chat message', (message) => showMessages([message]));
socket.on('history', showMessages);

function renderOutboxItem(item: OutboxItem): void {
  let $item = $outbox.children(`[data-key="${item.key}"]`);
  if ($item.length === 0) $item = $('<li>').attr('data-key', item.key).appendTo($outbox);
  const status = item.state === 'failed' ? `Not sent: ${item.error}` : item.error ? `Not sent yet (${item.error}), retrying…` : 'Sending…';
  $item
    .attr('data-state', item.state)
    .empty()
    .append($('<span class="text">').text(item.text), $('<span class="status">').text(status));
  if (item.state === 'failed') {
    $item.append($('<button type="button" class="retry">').text('Retry').on('click', () => outbox.retry(item.key)));
  }
  scrollToNewest();
}

const outbox = new Outbox({
  send: (message) => socket.timeout(ACK_TIMEOUT_MS).emitWithAck('chat message', message),
  canSend: () => socket.connected,
  onChange: renderOutboxItem,
  onAccepted: (item, id) => {
    $outbox.children(`[data-key="${item.key}"]`).remove();
    sentIds.add(id);
    messageElements.get(id)?.addClass('mine');
  },
});

$('#chat-form').on('submit', (event) => {
  event.preventDefault();
  const text = String($input.val() ?? '');
  if (text.trim() === '') return;
  $input.val('');
  outbox.add(text);
});
