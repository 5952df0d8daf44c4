/**
 * Rooms: the cluster-wide list of them, and which of them each connection is in.
 *
 * A chat room is a Socket.IO room (`socket.join`, `io.to(room).emit`), so a broadcast to it goes
 * through the adapter to every replica, and each replica writes it only to its own members. The
 * list of rooms is shared: in Redis (server/redis/redis-rooms.ts), or in memory for a single node. Rooms
 * are never deleted, so a name once seen in the list stays a room: a replica keeps the list in
 * memory, greets each new connection from it without a read, and can still admit people to its
 * rooms while Redis is unavailable.
 */
import type { Logger } from 'pino';
import { DEFAULT_ROOM, MAX_JOINED_ROOMS, type RoomResult } from '../../shared/events.js';
import { checkRoomName } from '../../shared/text.js';
import type { ChatServer, ChatSocket } from './chat.js';
import { oncePerTurn } from './per-turn.js';

/**
 * The Socket.IO room of a chat room. Every socket is also in a room named by its own id (20
 * letters, digits, - and _), which a chat room name could equal: the prefix keeps the two apart.
 */
export const socketRoom = (room: string) => `room:${room}`;

/** The chat rooms among a socket's (or an adapter's) Socket.IO rooms. */
export function chatRoomsAmong(socketRooms: Iterable<string>): string[] {
  const rooms: string[] = [];
  for (const name of socketRooms) if (name.startsWith('room:')) rooms.push(name.slice('room:'.length));
  return rooms;
}

export const isIn = (socket: ChatSocket, room: string) => socket.rooms.has(socketRoom(room));

export type Created = 'created' | 'exists' | 'full';

/**
 * How often a replica of a shared list reads it anyway. The replica that creates a room tells the
 * others at once; this repairs a notice one of them missed (its subscription was reconnecting).
 */
const REFRESH_MS = 30_000;

export interface RoomStore {
  /** Whether other replicas share it: then they tell each other of every room they add. */
  shared: boolean;
  /** Every room but DEFAULT_ROOM. */
  list(): Promise<string[]>;
  /** Adds `room` unless it exists, or there are `limit` rooms already (DEFAULT_ROOM counted): atomically. */
  create(room: string, limit: number): Promise<Created>;
}

/** The store of a single node. */
export function createMemoryRoomStore(): RoomStore {
  const rooms = new Set<string>();
  return {
    shared: false,
    list: async () => [...rooms],
    create: async (room, limit) => {
      if (rooms.has(room)) return 'exists';
      if (rooms.size + 1 >= limit) return 'full';
      rooms.add(room);
      return 'created';
    },
  };
}

export interface Rooms {
  /**
   * Where a new connection starts: DEFAULT_ROOM and those of `requested` that are rooms. Only a
   * name this replica does not know costs a read of the list, one for all the connections of a turn
   * (server/chat/per-turn.ts): a read for every connection was most of what a connect cost.
   */
  existing(requested: readonly string[]): Promise<string[]>;
  /**
   * Every room, sorted, as this replica knows them (for a new connection's `welcome`): read at its
   * start and every REFRESH_MS, told by the replica that creates one, and read again whenever
   * someone asks for a name it does not know.
   */
  all(): string[];
}

/** Handles `join`, `leave` and `create room` on every connection, and tells every replica and every connection when a room is created. */
export function startRooms(options: { io: ChatServer; store: RoomStore; limit: number; logger: Logger; signal: AbortSignal }): Rooms {
  const { io, store, limit, logger, signal } = options;
  /** Every room name ever read from the store or told by another replica: rooms are never deleted. */
  const known = new Set<string>([DEFAULT_ROOM]);

  /** `known`, sorted: made again only when a name is added, not for every connection. */
  let sorted: string[] | undefined;
  function remember(room: string): void {
    if (known.has(room)) return;
    known.add(room);
    sorted = undefined;
  }
  const allKnown = () => (sorted ??= [...known].sort());

  async function sortedList(): Promise<string[]> {
    for (const room of await store.list()) remember(room);
    return allKnown();
  }

  if (store.shared) {
    const refresh = () => void sortedList().catch((err: Error) => logger.debug({ reason: err.message }, 'could not read the room list'));
    refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    signal.addEventListener('abort', () => clearInterval(timer));
    io.on('room created', (room) => {
      const checked = checkRoomName(room);
      if (checked.ok) remember(checked.text);
    });
  }

  /** For the connections of a turn: one read for all. Unavailable, the rooms known already. */
  const readForNewConnections = oncePerTurn(() => sortedList().catch(() => []));

  /** Whether `room` is a room: from memory if it was seen, otherwise from the store. */
  async function exists(room: string): Promise<boolean> {
    if (known.has(room)) return true;
    return (await sortedList().catch((): string[] => [])).includes(room);
  }

  function refuse(socket: ChatSocket, event: string, error: string): RoomResult {
    logger.info({ socket: socket.id, event, reason: error }, 'refused a room request');
    return { ok: false, error };
  }

  async function join(socket: ChatSocket, input: unknown): Promise<RoomResult> {
    const checked = checkRoomName(input);
    if (!checked.ok) return refuse(socket, 'join', checked.error);
    const room = checked.text;
    if (isIn(socket, room)) return { ok: true, room };
    if (chatRoomsAmong(socket.rooms).length >= MAX_JOINED_ROOMS) return refuse(socket, 'join', `already in ${MAX_JOINED_ROOMS} rooms: leave one first`);
    if (!(await exists(room))) return refuse(socket, 'join', `there is no room named "${room}"`);
    await socket.join(socketRoom(room));
    return { ok: true, room };
  }

  async function leave(socket: ChatSocket, input: unknown): Promise<RoomResult> {
    const checked = checkRoomName(input);
    if (!checked.ok) return refuse(socket, 'leave', checked.error);
    if (checked.text === DEFAULT_ROOM) return refuse(socket, 'leave', `everyone stays in "${DEFAULT_ROOM}"`);
    await socket.leave(socketRoom(checked.text));
    return { ok: true, room: checked.text };
  }

  async function create(socket: ChatSocket, input: unknown): Promise<RoomResult> {
    const checked = checkRoomName(input);
    if (!checked.ok) return refuse(socket, 'create room', checked.error);
    const room = checked.text;
    if (room === DEFAULT_ROOM) return { ok: true, room };
    let created: Created;
    try {
      created = await store.create(room, limit);
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'could not create a room');
      return { ok: false, error: 'the room list (Redis) is unavailable: try again' };
    }
    if (created === 'full') return refuse(socket, 'create room', `there are ${limit} rooms already, the most there can be: join one of them`);
    remember(room);
    if (created === 'created') {
      // Through the adapter: every replica, and every replica's clients. A replica that misses it
      // still admits people to the room (it reads the store for a name it does not know), and has
      // it in its list by its next refresh.
      if (store.shared) io.serverSideEmit('room created', room);
      io.emit('rooms', await sortedList().catch(allKnown));
    }
    return { ok: true, room };
  }

  /**
   * An event with an acknowledgement: a client that sends none gets no answer, and nothing happens.
   * One listener serves every socket (`this` is the socket that received the event), so that a
   * connection costs no closures of its own.
   */
  function answering(handle: (socket: ChatSocket, input: unknown) => Promise<RoomResult>) {
    return async function (this: ChatSocket, input: unknown, ack: unknown) {
      if (typeof ack !== 'function') return;
      (ack as (result: RoomResult) => void)(await handle(this, input));
    };
  }
  const onJoin = answering(join);
  const onLeave = answering(leave);
  const onCreate = answering(create);

  io.on('connection', (socket) => {
    socket.on('join', onJoin);
    socket.on('leave', onLeave);
    socket.on('create room', onCreate);
  });

  return {
    existing: async (requested) => {
      // A read puts every room there is in `known`.
      if (requested.some((room) => !known.has(room))) await readForNewConnections();
      const rooms = [DEFAULT_ROOM];
      for (const room of requested) if (!rooms.includes(room) && known.has(room)) rooms.push(room);
      return rooms;
    },
    all: allKnown,
  };
}
