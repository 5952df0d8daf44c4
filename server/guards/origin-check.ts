/**
 * Cross-site WebSocket hijacking: a page on any website can open a WebSocket to this server from
 * its visitors' browsers, and post into the chat as them. Browsers send no CORS preflight for a
 * WebSocket, and Socket.IO's `cors` option only governs the HTTP requests of long-polling. But a
 * browser always sends an `Origin` header that the page cannot change, so the handshake checks it.
 */
import type { IncomingMessage } from 'node:http';

type AllowRequest = (request: IncomingMessage, callback: (message: string | null | undefined, success: boolean) => void) => void;

/**
 * Socket.IO's `allowRequest`, for the polling handshake and the WebSocket upgrade alike. With
 * `allowedOrigins` (ALLOWED_ORIGINS), exactly those; without, the page's own origin: the same host
 * and port the request was sent to (a proxy passes it on in `Host`). Calls `onRefused` for each refusal.
 */
export function originCheck(allowedOrigins: string[] | undefined, onRefused: () => void): AllowRequest {
  return (request, callback) => {
    const { origin, host } = request.headers;
    // No Origin: not a browser (a script, a load generator), which cannot be hijacked this way.
    if (origin === undefined) return callback(null, true);
    const allowed = allowedOrigins ? allowedOrigins.includes(origin) : sameHost(origin, host);
    if (!allowed) onRefused();
    // The refused origin is not echoed: the WebSocket refusal goes out as an HTML body.
    callback(allowed ? null : 'origin not allowed', allowed);
  };
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false; // "null" (a sandboxed frame, a file), or garbage
  }
}
