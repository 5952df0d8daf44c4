/**
 * How long a Redis command may take. node-redis's own command timeout covers only the wait to be
 * written: once sent, a command waits for its answer indefinitely, and a frozen Redis (connected,
 * not answering) never sends one. Without this, an append would leave its sender waiting forever.
 */
import { withTimeout } from '../../shared/with-timeout.js';

/** Round trip, before the replica treats Redis as unavailable. */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

/** `command`, or a TimeoutError after REDIS_COMMAND_TIMEOUT_MS; Redis may still run it later. */
export const answeredInTime = <T>(command: Promise<T>): Promise<T> => withTimeout(command, REDIS_COMMAND_TIMEOUT_MS, 'Redis');
