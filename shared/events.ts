/**
 * The chat's wire protocol, declared once and used by the server (server/chat/chat.ts) and the browser
 * client (client/chat.ts) through Socket.IO's typed `Server` and `Socket`.
 */

/** The room every connection is in, which cannot be left; messages that name no room go there. */
export const DEFAULT_ROOM = 'general';
/** Rooms one connection may be in at once, the default room included. */
export const MAX_JOINED_ROOMS = 10;
/** Names listed in a `presence` (or `here`); its `count` still counts everyone. */
export const PRESENCE_LIST_LIMIT = 100;
/**
 * Above this many people online, `joined` and `left` are not sent: in a crowd they are noise, and
 * each is a packet to every client (10,000 connections would make 10,000² of them). Nor are they
 * sent later for who came and went meanwhile: once the crowd thins out, who is there is the scene.
 */
export const NOTICE_CROWD_LIMIT = 100;

/** A chat message as every client receives it: an entry of its room's message log. */
export interface ChatMessage {
  /** The room it was said in (shared/text.ts: checkRoomName); each room has a log of its own. */
  room: string;
  /** Its id in its room's log (`<ms>-<seq>`, shared/log-id.ts): unique and ordered within the room. */
  id: string;
  /**
   * The id of the message before it in its room's log (`0-0` for the first). A client holding `prev`
   * and receiving this one knows it missed nothing in between; one that holds something older has
   * a gap to catch up on (server/chat/delivery.ts).
   */
  prev: string;
  /** Its author's name (shared/text.ts: checkName). */
  name: string;
  text: string;
  /** NODE_NUMBER of the replica that accepted the message: shows which hop it took. */
  instance: string;
  /** When that replica accepted it, in epoch milliseconds. */
  at: number;
}

/** What a client sends. A bare string is accepted too, for simple clients. */
export interface OutgoingMessage {
  text: string;
  /** The room to say it in, which this connection must be in; DEFAULT_ROOM if absent. */
  room?: string;
  /**
   * Idempotency key, chosen by the client per message (8-64 letters, digits, `-` or `_`). Sending
   * again with the same key after a lost acknowledgement returns the first message's id instead
   * of logging the text twice.
   */
  key?: string;
}

/**
 * The answer to a `chat message`. `ok: true` means the message is in the log and will reach every
 * connected client, live or by catch-up (server/chat/delivery.ts). `retryable` failures (Redis unavailable) may succeed if sent again
 * with the same key; the others (bad input) will not.
 */
export type SendResult = { ok: true; id: string } | { ok: false; error: string; retryable: boolean };

/** Sent in the Socket.IO handshake (`io({ auth })`); the page sends it again on every reconnect. */
export interface HandshakeAuth {
  /** The name to chat under. Without one, the server picks a guest name (see `welcome`). */
  name?: string;
  /**
   * Rooms to be in from the start, besides DEFAULT_ROOM: the page sends the ones it has open, so
   * that after a reconnect it is back in them before its first message. Names that are not rooms
   * are skipped (`welcome` says which rooms it is in); more than MAX_JOINED_ROOMS is refused.
   */
  rooms?: string[];
}

/** What `catch up` asks for: the messages of `room` after `afterId` (null: its recent conversation). */
export interface CatchUpRequest {
  room: string;
  afterId: string | null;
}

/** The answer to `join`, `leave` and `create room`. */
export type RoomResult = { ok: true; room: string } | { ok: false; error: string };

/** The answer to `catch up`: the oldest messages after the id asked for, oldest first, a page at most. */
export type CatchUpResult =
  | {
      ok: true;
      messages: ChatMessage[];
      /**
       * False when the log no longer holds some of the messages between the id asked for and
       * these (it keeps only the newest ones): the page says so rather than pretend it has all.
       */
      complete: boolean;
      /** More messages follow these: the client asks again, after the last one. */
      more: boolean;
    }
  | { ok: false; error: string };

/**
 * `err.data` of the `connect_error` a client gets when the server refuses its handshake: which
 * field was wrong (`err.message` says how). Socket.IO does not retry such a refusal by itself.
 */
export interface HandshakeRefusal {
  field: 'name' | 'rooms' | 'auth';
}

/**
 * A name and the replicas its tabs are connected to, in numeric order. A tuple rather than
 * `{ name, instances }`: every newcomer is sent a hundred of these, and in a crowd every update
 * sends them to everyone, so the keys were half the bytes of a mass connect's presence.
 */
export type ListedPerson = [name: string, ...instances: string[]];

/** Who is online, cluster-wide. A person is a name: two tabs with one name are one person. */
export interface Presence {
  /** People online. */
  count: number;
  /**
   * Sorted by name; the first PRESENCE_LIST_LIMIT only, when there are more (`count` says how many).
   * Empty in what a newcomer to a crowd (more than NOTICE_CROWD_LIMIT people) gets: the next update brings the names.
   */
  people: ListedPerson[];
}

/** The live replicas, as they report themselves through Redis. */
export interface ClusterStatus {
  instances: {
    instance: string;
    /** Socket.IO connections this replica holds. */
    connections: number;
    /** When this replica's process started, in epoch milliseconds: its uptime is now minus this. */
    since: number;
    /** Where this replica can be opened directly, when it is published (PUBLIC_URL). */
    url?: string;
  }[];
}

export interface ServerToClientEvents {
  /** Broadcast cluster-wide, through the Redis adapter, for every accepted message. */
  'chat message': (message: ChatMessage) => void;
  /**
   * Sent right after connecting: which replica holds this connection, under which name, the rooms
   * it is in (DEFAULT_ROOM and those of the handshake's `rooms` that exist), and every room,
   * cluster-wide, sorted (`rooms` says when that changes).
   */
  welcome: (info: { instance: string; name: string; rooms: string[]; allRooms: string[] }) => void;
  /**
   * The id of the newest message in a room's log, sent by each replica to its clients in that room
   * every POSITION_INTERVAL_MS when it has moved. A client that holds less catches up.
   */
  position: (position: { room: string; id: string }) => void;
  /** Whenever a room is created anywhere: every room, cluster-wide, sorted. */
  rooms: (rooms: string[]) => void;
  /**
   * Who is in `room`: to its members on joining it, and whenever that changes. Not for DEFAULT_ROOM:
   * everyone online is in it, so `presence` says who.
   */
  here: (here: Presence & { room: string }) => void;
  /**
   * On connecting, and whenever the cluster-wide list of people changes, or a replica appears, goes,
   * or its connection count changes: who is online and the live replicas, in one packet, since both
   * come from the same reports.
   */
  presence: (presence: Presence & ClusterStatus) => void;
  /** A person came online (their first tab anywhere in the cluster). */
  joined: (person: { name: string }) => void;
  /** A person went offline: their last tab closed a few seconds ago and none came back. */
  left: (person: { name: string }) => void;
  /** Someone is typing in `room` (at most every 2 s while they type); clear it after about 3 s of silence. */
  typing: (typist: { name: string; instance: string; room: string }) => void;
}

export interface ClientToServerEvents {
  /**
   * The message to send. The acknowledgement says whether it was logged, and why not. (The server
   * also accepts the event without one: it just cannot tell such a client why it refused.)
   */
  'chat message': (message: OutgoingMessage | string, ack: (result: SendResult) => void) => void;
  /**
   * "Send me what this room's log holds after this id" (null: its most recent messages). The page
   * asks for each of its rooms after each `welcome`, and whenever a message's `prev` or a
   * `position` shows it is behind. A bare id (or null) asks about DEFAULT_ROOM, for simple clients.
   */
  'catch up': (request: CatchUpRequest | string | null, ack: (result: CatchUpResult) => void) => void;
  /** "I am typing" in a room (DEFAULT_ROOM if none): the page sends it at most every 2 s while the user types. */
  typing: (room?: string) => void;
  /** Be in this existing room too (at most MAX_JOINED_ROOMS at once): its messages, typing and `here`. */
  join: (room: string, ack: (result: RoomResult) => void) => void;
  /** Leave a room (not DEFAULT_ROOM). */
  leave: (room: string, ack: (result: RoomResult) => void) => void;
  /** Create a room, cluster-wide (up to ROOM_LIMIT rooms); creating one that exists is no error. Joins nothing. */
  'create room': (room: string, ack: (result: RoomResult) => void) => void;
}
