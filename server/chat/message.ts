import { z } from 'zod';
import { DEFAULT_ROOM } from '../../shared/events.js';
import { checkMessageText, checkRoomName } from '../../shared/text.js';

/** The text rule (shared/text.ts: checkMessageText) as a schema step: the cleaned text, or its error. */
const messageTextSchema = z.unknown().transform((value, context) => {
  const checked = checkMessageText(value);
  if (checked.ok) return checked.text;
  context.addIssue({ code: 'custom', message: checked.error });
  return z.NEVER;
});

const roomNameSchema = z.unknown().transform((value, context) => {
  const checked = checkRoomName(value);
  if (checked.ok) return checked.text;
  context.addIssue({ code: 'custom', message: checked.error });
  return z.NEVER;
});

/** Long enough to be unguessable, short enough to be a cheap Redis key. */
const BAD_KEY = 'key must be 8-64 letters, digits, - or _';
const messageKeySchema = z.string({ error: BAD_KEY }).regex(/^[\w-]{8,64}$/, BAD_KEY);

/** `{ text, room?, key? }`; no other fields, so a typo in a field name is an error rather than ignored. */
const outgoingMessageSchema = z.strictObject(
  { text: messageTextSchema, room: roomNameSchema.optional(), key: messageKeySchema.optional() },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field in message: ${issue.keys.join(', ')}` : 'message must be text, or { text, room, key }',
  },
);

type ParsedMessage = { ok: true; text: string; room: string; key: string | undefined } | { ok: false; error: string };

/**
 * Validates what a client sent as a chat message: a string, or `{ text, room, key }` (shared/events.ts).
 * The payload comes straight off the wire, so it is `unknown` whatever the event types say: a
 * hostile client can send anything.
 */
export function parseMessage(payload: unknown): ParsedMessage {
  const result =
    typeof payload === 'string'
      ? messageTextSchema.transform((text) => ({ text, room: undefined, key: undefined })).safeParse(payload)
      : outgoingMessageSchema.safeParse(payload);
  if (!result.success) return { ok: false, error: result.error.issues[0]!.message };
  return { ok: true, text: result.data.text, room: result.data.room ?? DEFAULT_ROOM, key: result.data.key };
}
