import type { z } from 'zod';

/**
 * `text` as JSON of `schema`'s shape, or undefined if it is not JSON or not that shape. For what
 * the replicas read back from Redis, where anything with access can write.
 */
export function parseStoredJson<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
