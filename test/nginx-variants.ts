/**
 * Test-only variants of the real nginx/nginx.conf, each with one protection taken out, for the
 * negative controls: they show what breaks without it. Derived by checked substitutions, so a
 * variant can never drift from the real file.
 */
import { replaceRequired } from '../cluster/nginx-conf.js';

/** Without `ip_hash`: nginx's default, round-robin. */
export function withoutStickySessions(conf: string): string {
  return replaceRequired(conf, /^\s*ip_hash;\n/m, () => '', '`ip_hash;`');
}

/** Without the two headers that pass a WebSocket upgrade on to the replica. */
export function withoutUpgradeHeaders(conf: string): string {
  const withoutUpgrade = replaceRequired(conf, /^\s*proxy_set_header Upgrade .*\n/m, () => '', '`proxy_set_header Upgrade`');
  return replaceRequired(withoutUpgrade, /^\s*proxy_set_header Connection .*\n/m, () => '', '`proxy_set_header Connection`');
}

/** With `proxy_read_timeout` set to `seconds`. */
export function withProxyReadTimeout(conf: string, seconds: number): string {
  return replaceRequired(conf, /proxy_read_timeout \d+s;/, () => `proxy_read_timeout ${seconds}s;`, '`proxy_read_timeout`');
}

/** Without `proxy_connect_timeout`: nginx's default, 60 s. */
export function withDefaultConnectTimeout(conf: string): string {
  return replaceRequired(conf, /^\s*proxy_connect_timeout .*\n/m, () => '', '`proxy_connect_timeout`');
}
