/**
 * The browser side of the chat: connects once the person has a name, and wires the server's events
 * to the views. `io` comes from /socket.io/socket.io.js and `$` from jQuery, both loaded by
 * views/index.ejs; the event types are the server's own (shared/events.ts).
 */
import type { Socket } from 'socket.io-client';
import type { ClientToServerEvents, ClusterStatus, HandshakeAuth, HandshakeRefusal, ServerToClientEvents } from '../shared/events.js';
import { refreshUptimes, renderCluster, renderPresence } from './cluster-view.js';
import { MessageList } from './message-list.js';
import { askForName, storedName } from './name.js';
import { Outbox } from './outbox.js';
import { Timeline } from './timeline.js';
import { CatchUp } from './catch-up.js';
import { checkMessageText, MAX_MESSAGE_LENGTH, textLength } from '../shared/text.js';
import { describeTypists, throttled, Typists } from './typing.js';

/**
 * How long to wait for the server's answer before sending again. Above the server's own Redis
 * timeout (2 s), so that a slow Redis normally gets a reasoned answer rather than silence.
 */
const ACK_TIMEOUT_MS = 5000;
/** Before connecting again after the server refused a connection for a reason a retry may fix. */
const REFUSED_RETRY_MS = 2000;

const timeline = new Timeline();
const messageList = new MessageList();
/** As the server accepted it (welcome), or as chosen, before the first connection. */
let myName: string | undefined;
/** The replica holding the live connection. */
let myInstance: string | undefined;
let lastCluster: ClusterStatus | undefined;

// `?transport=polling` (or `websocket`) pins the transport, to watch long-polling through nginx.
const forcedTransport = new URLSearchParams(location.search).get('transport');
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
  autoConnect: false, // not before the person has a name
  transports: forcedTransport === 'polling' || forcedTransport === 'websocket' ? [forcedTransport] : undefined,
  // A function, so that every reconnect sends the current name.
  auth: (send) => send({ name: myName } satisfies HandshakeAuth),
});

// ---- connection status ----------------------------------------------------------------------

const $connection = $('#connection');

/** Shows which replica holds the connection and over which transport; tests read the data-* too. */
function showConnection(state: 'connecting' | 'connected' | 'disconnected', detail: string): void {
  $connection.attr('data-state', state).text(detail);
}

function showConnected(instance: string): void {
  const transport = socket.io.engine.transport.name;
  $connection.attr({ 'data-instance': instance, 'data-transport': transport });
  showConnection('connected', `Connected to instance #${instance} over ${transport}`);
}

socket.on('welcome', ({ instance, name }) => {
  myInstance = instance;
  myName = name;
  $('#my-name').text(name);
  $('#identity').prop('hidden', false);
  $('#message').prop('disabled', false);
  showConnected(instance);
  if (lastCluster) renderCluster(lastCluster, instance);
  // Socket.IO starts on long-polling and upgrades to WebSocket when it can; show when it does.
  socket.io.engine.once('upgrade', () => showConnected(instance));
  catchUp.connected();
});

socket.on('connect', () => outbox.flush());
socket.on('disconnect', (reason) => {
  catchUp.disconnected();
  showConnection('disconnected', `Disconnected (${reason}), reconnecting…`);
});
socket.on('connect_error', async (err) => {
  if (socket.active) {
    showConnection('disconnected', `Cannot connect (${err.message}), retrying…`);
    return;
  }
  // Refused by the server's handshake check: Socket.IO does not retry that by itself.
  showConnection('disconnected', `The server refused the connection: ${err.message}`);
  if ((err as { data?: HandshakeRefusal }).data?.field === 'name') {
    myName = await askForName({ current: myName, problem: `The server refused that name: ${err.message}.` });
    socket.connect();
  } else {
    setTimeout(() => socket.connect(), REFUSED_RETRY_MS);
  }
});

// ---- messages, people, the cluster -------------------------------------------------------------

const typists = new Typists((names) => $('#typing').text(describeTypists(names)));

const catchUp = new CatchUp({
  request: (afterId) => socket.timeout(ACK_TIMEOUT_MS).emitWithAck('catch up', afterId),
  caughtUp: (messages) => messageList.show(timeline.merge(messages), myInstance),
  missing: () => messageList.notice('Some older messages are no longer available.', 'missing'),
});
socket.on('chat message', (message) => {
  typists.stopped(message.name);
  messageList.show(timeline.merge([message]), myInstance);
  catchUp.live(message);
});
socket.on('position', (newestId) => catchUp.position(newestId));
socket.on('joined', ({ name }) => messageList.notice(`${name} joined`));
socket.on('left', ({ name }) => messageList.notice(`${name} left`));
socket.on('typing', ({ name }) => {
  if (name !== myName) typists.typing(name);
});
socket.on('presence', (presence) => renderPresence(presence, myName));
socket.on('cluster', (cluster) => {
  lastCluster = cluster;
  renderCluster(cluster, myInstance);
});
setInterval(refreshUptimes, 1000);

// ---- sending -------------------------------------------------------------------------------

const outbox = new Outbox({
  send: (message) => socket.timeout(ACK_TIMEOUT_MS).emitWithAck('chat message', message),
  canSend: () => socket.connected,
  onChange: (item) => messageList.showUnsent(item, () => outbox.retry(item.key)),
  onAccepted: (item, id) => {
    messageList.removeUnsent(item.key);
    messageList.markSent(id);
  },
});

const $input = $('#message');
const $counter = $('#counter');
const $composeError = $('#compose-error');
const typing = throttled(() => {
  if (socket.connected) socket.emit('typing');
});
$input.on('input', () => {
  const text = String($input.val() ?? '');
  // Counted as the server counts: characters, not UTF-16 units.
  const length = textLength(text);
  $counter.text(`${length}/${MAX_MESSAGE_LENGTH}`).toggleClass('over', length > MAX_MESSAGE_LENGTH);
  $composeError.text('');
  if (text !== '') typing.keystroke();
});

$('#chat-form').on('submit', (event) => {
  event.preventDefault();
  const text = String($input.val() ?? '');
  if (text.trim() === '') return;
  // Refused here what the server would refuse anyway, with its words; the text stays to be edited.
  const checked = checkMessageText(text);
  if (!checked.ok) {
    $composeError.text(`Cannot send this: ${checked.error}.`);
    return;
  }
  $input.val('').trigger('input');
  typing.reset();
  outbox.add(text);
});

// ---- who am I ------------------------------------------------------------------------------

$('#change-name').on('click', async () => {
  myName = await askForName({ current: myName });
  // A new handshake carries the new name.
  socket.disconnect().connect();
});

myName = storedName() ?? (await askForName());
socket.connect();
