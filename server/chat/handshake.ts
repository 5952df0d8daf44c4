import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { MAX_JOINED_ROOMS, type HandshakeRefusal } from '../../shared/events.js';
import { checkName, checkRoomName } from '../../shared/text.js';

/** What a connection asked for in its handshake `auth` (shared/events.ts: HandshakeAuth). */
export interface Handshake {
  name: string;
  /** The rooms asked for, as room names (shared/text.ts); the server then keeps those that exist. */
  rooms: string[];
}

const handshakeSchema = z.object(
  {
    name: z
      .unknown()
      .transform((value, context) => {
        const checked = checkName(value);
        if (checked.ok) return checked.text;
        context.addIssue({ code: 'custom', message: checked.error });
        return z.NEVER;
      })
      .optional(),
    // A name that is not a room name is no room: skipped, as a room that does not exist is.
    rooms: z
      .array(z.unknown(), { error: 'rooms must be a list of room names' })
      .max(MAX_JOINED_ROOMS, `rooms: at most ${MAX_JOINED_ROOMS}`)
      .transform((names) => names.map(checkRoomName).flatMap((checked) => (checked.ok ? [checked.text] : [])))
      .optional(),
  },
  { error: 'auth must be an object' },
);

/**
 * Validates the handshake `auth` a client sent. Socket.IO passes `{}` when the client sent none;
 * fields this server does not know are ignored, so older and newer clients can connect. A client
 * that sends no name chats as a guest, so that simple clients and scripts keep working.
 */
export function parseHandshake(auth: unknown): { ok: true; handshake: Handshake } | { ok: false; error: string; refusal: HandshakeRefusal } {
  const result = handshakeSchema.safeParse(auth);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path[0] === 'name' || issue.path[0] === 'rooms' ? issue.path[0] : 'auth';
    return { ok: false, error: issue.message, refusal: { field } };
  }
  return { ok: true, handshake: { name: result.data.name ?? guestName(), rooms: result.data.rooms ?? [] } };
}

/** "Guest 4k7q": 36^4 (1.7 million) possibilities, so that two guests rarely share a name. */
function guestName(): string {
  return `Guest ${randomInt(36 ** 4)
    .toString(36)
    .padStart(4, '0')}`;
}
