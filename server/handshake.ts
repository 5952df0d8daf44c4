import { z } from 'zod';
import { isLogId } from '../shared/log-id.js';

/** What a connection asked for in its handshake `auth` (shared/events.ts: HandshakeAuth). */
export interface Handshake {
  lastSeenId: string | undefined;
}

const handshakeSchema = z.object(
  {
    lastSeenId: z
      .string({ error: 'lastSeenId must be a message id' })
      .refine(isLogId, 'lastSeenId must be a message id such as 1700000000000-0')
      .optional(),
  },
  { error: 'auth must be an object' },
);

/**
 * Validates the handshake `auth` a client sent. Socket.IO passes `{}` when the client sent none;
 * fields this server does not know are ignored, so older and newer clients can connect.
 */
export function parseHandshake(auth: unknown): { ok: true; handshake: Handshake } | { ok: false; error: string } {
  const result = handshakeSchema.safeParse(auth);
  return result.success
    ? { ok: true, handshake: { lastSeenId: result.data.lastSeenId } }
    : { ok: false, error: result.error.issues[0]!.message };
}
