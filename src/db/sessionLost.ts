import { mask } from './mask.js';

/**
 * A session that broke under steep: the server restarted, stopped or crashed (`pg_ctl restart
 * -m immediate`, a failover), a DBA ended the backend, or the network dropped the connection.
 * Told apart from an error PostgreSQL reports over a working session, including one about a
 * connection of its own (a subscriber's to its publisher), which is the step's to report.
 */

/** SQLSTATEs a backend sends as it ends the session: admin_shutdown, crash_shutdown. */
const ENDED_BY_SERVER = new Set(['57P01', '57P02']);
/** Socket errors of a connection that was established. */
const SOCKET_LOST = new Set(['ECONNRESET', 'EPIPE']);
/** node-postgres: the socket closed under a query, or a later query on that client. */
const CLIENT_LOST = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
]);

export function isSessionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (ENDED_BY_SERVER.has(e.code) || SOCKET_LOST.has(e.code))) return true;
  return typeof e.message === 'string' && CLIENT_LOST.has(e.message);
}

/** "lost the connection to east (…): the server restarted or stopped, or ended steep's session" */
export function describeSessionLost(node: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `lost the connection to ${node} (${mask(message)}): the server restarted or stopped, or ended steep's session`;
}
