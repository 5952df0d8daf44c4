/**
 * The chat's handlers: check each handshake, put each connection in its rooms and greet it with its
 * replica, its name, its rooms and the list of all rooms, pass messages and catch-up requests to the delivery
 * (server/chat/delivery.ts), and pass on who is typing in which room.
 */
import type { Server, Socket } from 'socket.io';
import { DEFAULT_ROOM, type CatchUpResult, type ClientToServerEvents, type SendResult, type ServerToClientEvents } from '../../shared/events.js';
import { checkRoomName } from '../../shared/text.js';
import type { Delivery, Sender } from './delivery.js';
import { parseHandshake, type Handshake } from './handshake.js';
import { isIn, socketRoom, type Rooms } from './rooms.js';
import type { ChatMetrics } from '../metrics.js';

/** What replicas tell each other (`io.serverSideEmit`), through the adapter. */
export interface InterServerEvents {
  /** A room was added to the shared list (server/chat/rooms.ts). */
  'room created': (room: string) => void;
}

export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, Handshake>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, Handshake>;

/** Who sent an event, made when one arrives rather than kept for each connection. */
function senderOf(socket: ChatSocket): Sender {
  return { name: socket.data.name, socketId: socket.id, isIn: (room) => isIn(socket, room) };
}

export function registerChatHandlers(io: ChatServer, options: { instance: string; delivery: Delivery; rooms: Rooms; metrics: ChatMetrics }): void {
  const { instance, delivery, rooms, metrics } = options;

  io.use(async (socket, next) => {
    const parsed = parseHandshake(socket.handshake.auth);
    if (!parsed.ok) {
      metrics.connectionRefused('handshake');
      // The client's connect_error: the message says what is wrong, `data` which field.
      return next(Object.assign(new Error(parsed.error), { data: parsed.refusal }));
    }
    // Decided before the connection exists, so that it is in its rooms before its first event.
    socket.data = { ...parsed.handshake, rooms: await rooms.existing(parsed.handshake.rooms) };
    next();
  });

  // Each handler serves every socket: Node's EventEmitter calls a listener with `this` set to the
  // socket that received the event, so a connection costs no closures of its own.
  async function onChatMessage(this: ChatSocket, payload: unknown, ack: unknown) {
    const result = await delivery.accept(senderOf(this), payload);
    if (typeof ack === 'function') (ack as (result: SendResult) => void)(result);
  }
  async function onCatchUp(this: ChatSocket, request: unknown, ack: unknown) {
    if (typeof ack !== 'function') return;
    (ack as (result: CatchUpResult) => void)(await delivery.catchUp(senderOf(this), request));
  }
  // To everyone in the room but this tab, cluster-wide. Not logged: it matters only for the next
  // seconds. From a room this tab is not in (or no room name at all), nothing.
  function onTyping(this: ChatSocket, input: unknown) {
    const checked = input === undefined ? { ok: true as const, text: DEFAULT_ROOM } : checkRoomName(input);
    if (checked.ok && isIn(this, checked.text)) this.to(socketRoom(checked.text)).emit('typing', { name: this.data.name, instance, room: checked.text });
  }

  io.on('connection', (socket: ChatSocket) => {
    // The client answers with a `catch up` per room: it is already receiving live messages by
    // then (joined in this same turn), so nothing falls between what it is sent and what it reads.
    // Welcomed first: the page makes its room views on `welcome`, and joining sends who is in each.
    socket.emit('welcome', { instance, name: socket.data.name, rooms: socket.data.rooms, allRooms: rooms.all() });
    void socket.join(socket.data.rooms.map(socketRoom));
    // Arguments come off the wire, so they are `unknown` in the handlers whatever the event types
    // say; a client that sends no acknowledgement callback simply gets no answer.
    socket.on('chat message', onChatMessage);
    socket.on('catch up', onCatchUp);
    socket.on('typing', onTyping);
  });
}
