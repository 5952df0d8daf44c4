import { z } from 'zod';
import { checkMessageText } from '../../shared/text.js';

/** The text rule (shared/text.ts: checkMessageText) as a schema step: the cleaned text, or its error. */
const messageTextSchema = z.unknown().transform((value, context) => {
  const checked = checkMessageText(value);
  if (checked.ok) return checked.text;
  context.addIssue({ code: 'custom', message: checked.error });
  return z.NEVER;
});

/** Long enough to be unguessable, short enough to be a cheap Redis key. */
const BAD_KEY = 'key must be 8-64 letters, digits, - or _';
const messageKeySchema = z.string({ error: BAD_KEY }).regex(/^[\w-]{8,64}$/, BAD_KEY);

/** `{ text, key? }`; no other fields, so a typo in a field name is an error rather than ignored. */
const outgoingMessageSchema = z.strictObject(
  { text: messageTextSchema, key: messageKeySchema.optional() },
  {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field in message: ${issue.keys.join(', ')}` : 'message must be text, or { text, key }'),
  },
);

type ParsedMessage = { ok: true; text: string; key: string | undefined } | { ok: false; error: string };

/**
 * Validates what a client sent as a chat message: a string, or `{ text, key }` (shared/events.ts).
 * The payload comes straight off the wire, so it is `unknown` whatever the event types say: a
 * hostile client can send anything.
 */
export function parseMessage(payload: unknown): ParsedMessage {
  const result =
    typeof payload === 'string'
      ? messageTextSchema.transform((text) => ({ text, key: undefined })).safeParse(payload)
      : outgoingMessageSchema.safeParse(payload);
  return result.success ? { ok: true, text: result.data.text, key: result.data.key } : { ok: false, error: result.error.issues[0]!.message };
}
