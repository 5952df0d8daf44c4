import { z } from 'zod';

/** Everything the server reads from its environment, parsed and validated here and nowhere else. */
export interface Config {
  /** TCP port the HTTP and Socket.IO server listens on. */
  port: number;
  /** This replica's name, shown in the page and stamped on every message it accepts. */
  instance: string;
  /** Where the Redis adapter connects; undefined runs a single node with the in-memory adapter. */
  redisUrl: string | undefined;
  /** Where users can open this replica directly, for the page's cluster panel; optional. */
  publicUrl: string | undefined;
}

/** A bad environment variable: the message names it and says what was expected. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

// An empty variable (`PORT=`) counts as unset, as a shell user would expect.
const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

const envSchema = z.object({
  PORT: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(1, 'must be 1-65535').max(65535, 'must be 1-65535'))
      .default(3000),
  ),
  NODE_NUMBER: z.preprocess(
    unsetIfEmpty,
    z.string().regex(/^[1-9]\d{0,3}$/, 'must be a positive whole number').default('N/A'),
  ),
  REDIS_URL: z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^rediss?$/, hostname: /./, error: 'must be a redis://host or rediss://host URL' }).optional(),
  ),
  PUBLIC_URL: z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^https?$/, hostname: /./, error: 'must be an http:// or https:// URL' }).optional(),
  ),
});

/**
 * Reads the server's configuration from environment variables.
 * @throws ConfigError naming the first bad variable and the value it had.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    // REDIS_URL may carry a password, so its value is not echoed.
    const got = name === 'REDIS_URL' ? '' : ` (got ${JSON.stringify(env[name])})`;
    throw new ConfigError(`${name} ${issue.message}${got}`);
  }
  const { PORT, NODE_NUMBER, REDIS_URL, PUBLIC_URL } = result.data;
  return { port: PORT, instance: NODE_NUMBER, redisUrl: REDIS_URL, publicUrl: PUBLIC_URL };
}
