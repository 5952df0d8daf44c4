/**
 * The chat's wire protocol, declared once and used by the server (server/chat.ts) and the browser
 * client (client/chat.ts) through Socket.IO's typed `Server` and `Socket`.
 */

/** A chat message as every client receives it. */
export interface ChatMessage {
  /** Unique id, so a client can tell two identical texts apart. */
  id: string;
  text: string;
  /** NODE_NUMBER of the replica that accepted the message: shows which hop it took. */
  instance: string;
  /** When that replica accepted it, in epoch milliseconds. */
  at: number;
}

/** The answer to a `chat message` the client sent with an acknowledgement callback. */
export type SendResult = { ok: true; id: string } | { ok: false; error: string };

export interface ServerToClientEvents {
  /** Broadcast cluster-wide, through the Redis adapter, for every accepted message. */
  'chat message': (message: ChatMessage) => void;
  /** Sent right after connecting: which replica holds this connection. */
  welcome: (info: { instance: string }) => void;
}

export interface ClientToServerEvents {
  /**
   * The text to send. The acknowledgement says whether it was accepted, and why not. (The server
   * also accepts the event without one: it just cannot tell such a client why it refused.)
   */
  'chat message': (text: string, ack: (result: SendResult) => void) => void;
}
