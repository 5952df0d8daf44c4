/**
 * The browser side of the chat: connects once the person has a name, and wires the server's events
 * to the views. `io` comes from /socket.io/socket.io.js and `$` from jQuery, both loaded by
 * views/index.ejs; the event types are the server's own (shared/events.ts).
 */
import type { Socket } from 'socket.io-client';
import {
  DEFAULT_ROOM,
  type ClientToServerEvents,
  type ClusterStatus,
  type HandshakeAuth,
  type HandshakeRefusal,
  type Presence,
  type ServerToClientEvents,
} from '../shared/events.js';
import { refreshUptimes, renderCluster, renderPresence } from './cluster-view.js';
import { askForName, storedName } from './name.js';
import { Outbox } from './outbox.js';
import { linkTo, renderHere, renderRooms, RoomView } from './room-view.js';
import { checkMessageText, checkRoomName, MAX_MESSAGE_LENGTH, textLength } from '../shared/text.js';
import { throttled } from './typing.js';

/**
 * How long to wait for the server's answer before sending again. Above the server's own Redis
 * timeout (2 s), so that a slow Redis normally gets a reasoned answer rather than silence.
 */
const ACK_TIMEOUT_MS = 5000;
/** Before connecting again after the server refused a connection for a reason a retry may fix. */
const REFUSED_RETRY_MS = 2000;

/** The rooms this page has open besides DEFAULT_ROOM, remembered across visits. */
const ROOMS_KEY = 'chat-rooms';

/** Every room, cluster-wide, as the server last listed them. */
let allRooms: string[] = [DEFAULT_ROOM];
/** The rooms this page is in, each with its conversation. */
const views = new Map<string, RoomView>();
/** The rooms to be in: sent in every handshake, so that a reconnection is back in all of them. */
const wanted = new Set<string>(JSON.parse(localStorage.getItem(ROOMS_KEY) ?? '[]') as string[]);
// A link to a room (`/?room=name`) opens it.
const linked = checkRoomName(new URLSearchParams(location.search).get('room') ?? DEFAULT_ROOM);
let lookedAt = linked.ok ? linked.text : DEFAULT_ROOM;
wanted.add(lookedAt);
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
  auth: (send) => send({ name: myName, rooms: [...wanted].filter((room) => room !== DEFAULT_ROOM) } satisfies HandshakeAuth),
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

socket.on('welcome', ({ instance, name, rooms, allRooms: everyRoom }) => {
  myInstance = instance;
  allRooms = everyRoom;
  myName = name;
  $('#my-name').text(name);
  $('#identity').prop('hidden', false);
  $('#message').prop('disabled', false);
  showConnected(instance);
  if (lastCluster) renderCluster(lastCluster, instance);
  // Socket.IO starts on long-polling and upgrades to WebSocket when it can; show when it does.
  socket.io.engine.once('upgrade', () => showConnected(instance));
  // Rooms asked for that the server does not know (a link to a room that does not exist) are dropped.
  for (const room of wanted) {
    if (rooms.includes(room)) continue;
    wanted.delete(room);
    if (room === lookedAt) $('#room-error').text(`There is no room named "${room}".`);
  }
  saveWanted();
  for (const room of rooms) viewOf(room).catchUp.connected();
  lookAt(rooms.includes(lookedAt) ? lookedAt : DEFAULT_ROOM);
});

socket.on('connect', () => outbox.flush());
socket.on('disconnect', (reason) => {
  for (const view of views.values()) view.catchUp.disconnected();
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

// ---- rooms ---------------------------------------------------------------------------------

function viewOf(room: string): RoomView {
  let view = views.get(room);
  if (!view) {
    view = new RoomView(room, {
      request: (afterId) => socket.timeout(ACK_TIMEOUT_MS).emitWithAck('catch up', { room, afterId }),
      isLookedAt: () => room === lookedAt,
      viewerInstance: () => myInstance,
      onChange: showRooms,
    });
    views.set(room, view);
  }
  return view;
}

function showRooms(): void {
  renderRooms(allRooms, lookedAt, (room) => views.get(room)?.unread ?? 0);
}

function saveWanted(): void {
  localStorage.setItem(ROOMS_KEY, JSON.stringify([...wanted].filter((room) => room !== DEFAULT_ROOM)));
}

/** Shows `room`, which the page is in. */
function lookAt(room: string): void {
  lookedAt = room;
  for (const view of views.values()) view.lookAt(view.name === room);
  history.replaceState(null, '', linkTo(room));
  showRooms();
  renderHere(viewOf(room), myName);
}

/** Goes to `room`, joining it first if the page is not in it yet. */
async function open(room: string): Promise<void> {
  $('#room-error').text('');
  if (!views.has(room)) {
    const result = await socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('join', room)
      .catch(() => ({ ok: false as const, error: 'no answer from the server in time' }));
    if (!result.ok) {
      $('#room-error').text(`Cannot open #${room}: ${result.error}.`);
      return;
    }
    wanted.add(room);
    saveWanted();
    viewOf(room).catchUp.connected();
  }
  lookAt(room);
}

socket.on('rooms', (rooms) => {
  allRooms = rooms;
  showRooms();
});
/** Who is in `room`, for the room's view. */
function showHere(room: string, here: Presence): void {
  const view = views.get(room);
  if (!view) return;
  view.here = here;
  if (room === lookedAt) renderHere(view, myName);
}
socket.on('here', ({ room, ...here }) => showHere(room, here));
$('#rooms').on('click', 'a', (event) => {
  event.preventDefault();
  void open(String($(event.currentTarget).closest('li').attr('data-room')));
});
$('#new-room').on('submit', async (event) => {
  event.preventDefault();
  const checked = checkRoomName($('#room-name').val());
  if (!checked.ok) {
    $('#room-error').text(`Cannot create this room: ${checked.error}.`);
    return;
  }
  const result = await socket
    .timeout(ACK_TIMEOUT_MS)
    .emitWithAck('create room', checked.text)
    .catch(() => ({ ok: false as const, error: 'no answer from the server in time' }));
  if (!result.ok) {
    $('#room-error').text(`Cannot create #${checked.text}: ${result.error}.`);
    return;
  }
  $('#room-name').val('');
  await open(result.room);
});

// ---- messages, people, the cluster -------------------------------------------------------------

socket.on('chat message', (message) => views.get(message.room)?.live(message));
socket.on('position', ({ room, id }) => views.get(room)?.catchUp.position(id));
socket.on('joined', ({ name }) => viewOf(lookedAt).list.notice(`${name} joined`));
socket.on('left', ({ name }) => viewOf(lookedAt).list.notice(`${name} left`));
socket.on('typing', ({ name, room }) => {
  if (name !== myName) views.get(room)?.typists.typing(name);
});
socket.on('presence', (presence) => {
  renderPresence(presence, myName);
  // Everyone online is in DEFAULT_ROOM: the server sends no `here` for it.
  showHere(DEFAULT_ROOM, presence);
  lastCluster = presence;
  renderCluster(presence, myInstance);
});
setInterval(refreshUptimes, 1000);

// ---- sending -------------------------------------------------------------------------------

const outbox = new Outbox({
  send: (message) => socket.timeout(ACK_TIMEOUT_MS).emitWithAck('chat message', message),
  canSend: () => socket.connected,
  onChange: (item) => viewOf(item.room).list.showUnsent(item, () => outbox.retry(item.key)),
  onAccepted: (item, id) => {
    const { list } = viewOf(item.room);
    list.removeUnsent(item.key);
    list.markSent(id);
  },
});

const $input = $('#message');
const $counter = $('#counter');
const $composeError = $('#compose-error');
const typing = throttled(() => {
  if (socket.connected) socket.emit('typing', lookedAt);
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
  outbox.add(text, lookedAt);
});

// ---- who am I ------------------------------------------------------------------------------

$('#change-name').on('click', async () => {
  myName = await askForName({ current: myName });
  // A new handshake carries the new name.
  socket.disconnect().connect();
});

myName = storedName() ?? (await askForName());
showRooms();
socket.connect();
