/** Entry point of one replica: read the config, start, and stop cleanly on SIGTERM/SIGINT. */
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startChatServer, type RunningChatServer } from './server.js';

/**
 * How long a graceful shutdown may take before the process gives up on it: the drain's spread
 * (2 s) and the closing, within Docker's default 10 s between SIGTERM and SIGKILL.
 */
const SHUTDOWN_TIMEOUT_MS = 8000;

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`Invalid configuration: ${err.message}`);
  process.exit(1);
}

// Every line names its replica, to filter a cluster's merged logs on.
const logger = pino({ base: { replica: config.instance } });
let server: RunningChatServer | undefined;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info('%s received, shutting down', signal);
    setTimeout(() => {
      logger.error('shutdown took longer than %d ms, exiting anyway', SHUTDOWN_TIMEOUT_MS);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    // Before start-up completes there is nothing to close yet (for example while Redis is unreachable).
    (server?.drain() ?? Promise.resolve()).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

try {
  server = await startChatServer(config, logger);
} catch (err) {
  // For example EADDRINUSE: one line saying why, not a stack trace.
  logger.fatal({ code: (err as NodeJS.ErrnoException).code }, 'could not start: %s', (err as Error).message);
  process.exit(1);
}
