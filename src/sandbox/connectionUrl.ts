import type { ConnectionSpec } from '../model/topology.js';

/**
 * `postgres://user:password@host:port/database` for a connection. It contains the password when
 * the spec has one: print it only through db/mask.
 */
export function connectionUrl(spec: ConnectionSpec): string {
  const user = encodeURIComponent(spec.user);
  const auth = spec.password ? `${user}:${encodeURIComponent(spec.password)}` : user;
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  const query = spec.sslmode ? `?sslmode=${encodeURIComponent(spec.sslmode)}` : '';
  return `postgres://${auth}@${host}:${spec.port}/${encodeURIComponent(spec.database)}${query}`;
}
