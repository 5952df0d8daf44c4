/**
 * The browser side of the chat. `io` comes from /socket.io/socket.io.js and `$` from jQuery, both
 * loaded by views/index.ejs; the event types are the server's own (server/events.ts).
 */
import type { Socket } from 'socket.io-client';
import type { ChatMessage, ClientToServerEvents, ServerToClientEvents } from '../server/events.js';

/** How long to wait for the server to accept a message before saying it was not delivered. */
const SEND_TIMEOUT_MS = 5000;

// `?transport=polling` (or `websocket`) pins the transport, to watch long-polling through nginx.
const forcedTransport = new URLSearchParams(location.search).get('transport');
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  transports: forcedTransport === 'polling' || forcedTransport === 'websocket' ? [forcedTransport] : undefined,
});

const $connection = $('#connection');
const $messages = $('#messages');
const $input = $('#message');
const $sendError = $('#send-error');

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

socket.on('disconnect', (reason) => showConnection('disconnected', `Disconnected (${reason}), reconnecting…`));
socket.on('connect_error', (err) => showConnection('disconnected', `Cannot connect (${err.message}), retrying…`));

socket.on('chat message', (message: ChatMessage) => {
  // .text() never parses HTML: whatever a user typed is shown as typed.
  const $item = $('<li>').attr({ 'data-id': message.id, 'data-instance': message.instance });
  $item.append(
    $('<span class="text">').text(message.text),
    $('<span class="via">').text(`via instance #${message.instance}`),
    $('<time>').attr('datetime', new Date(message.at).toISOString()).text(new Date(message.at).toLocaleTimeString()),
  );
  $messages.append($item);
  $item[0]!.scrollIntoView({ block: 'end' });
});

$('#chat-form').on('submit', (event) => {
  event.preventDefault();
  const text = String($input.val() ?? '');
  $input.val('');
  $sendError.prop('hidden', true);
  socket.timeout(SEND_TIMEOUT_MS).emit('chat message', text, (err, result) => {
    const error = err ? 'the server did not answer in time' : result.ok ? undefined : result.error;
    if (error) $sendError.text(`Not sent: ${error}`).prop('hidden', false);
  });
});
