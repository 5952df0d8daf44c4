import { z } from 'zod';

/** Longest message text accepted, in characters. */
export const MAX_MESSAGE_LENGTH = 1000;

const messageTextSchema = z
  .string({ error: 'message must be text' })
  .trim()
  .min(1, 'message is empty')
  .max(MAX_MESSAGE_LENGTH, `message is longer than ${MAX_MESSAGE_LENGTH} characters`);

export type ParsedText = { ok: true; text: string } | { ok: false; error: string };

/**
 * Validates what a client sent as a chat message. The payload comes straight off the wire, so it
 * is `unknown` whatever the event types say: a hostile client can send anything.
 */
export function parseMessageText(payload: unknown): ParsedText {
  const result = messageTextSchema.safeParse(payload);
  return result.success
    ? { ok: true, text: result.data }
    : { ok: false, error: result.error.issues[0]!.message };
}
