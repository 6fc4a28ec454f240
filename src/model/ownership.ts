import type { Ownership } from './cluster.js';

/**
 * steep marks what it creates with a comment:
 *   `managed by steep: topology=orders-eu`                      (publications)
 *   `managed by steep: topology=orders-eu conn=sha256:<hex>`    (subscriptions)
 *   `… protect=true`                                            (declared with protect: true)
 * `conn` is the SHA-256 of the connection string steep set, with its password masked, so a
 * connection change is detected even where subconninfo cannot be read (and no
 * password-derived value is stored).
 */
const PREFIX = 'managed by steep:';

export function formatOwnership(o: Ownership): string {
  return `${PREFIX} topology=${o.topology}${o.connHash ? ` conn=sha256:${o.connHash}` : ''}${o.protect ? ' protect=true' : ''}`;
}

export function parseOwnership(comment: string | null): Ownership | null {
  if (!comment?.startsWith(PREFIX)) return null;
  const fields = new Map<string, string>();
  for (const part of comment.slice(PREFIX.length).trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const topology = fields.get('topology');
  if (!topology) return null;
  const conn = fields.get('conn');
  const o: Ownership = { topology };
  if (conn?.startsWith('sha256:')) o.connHash = conn.slice('sha256:'.length);
  if (fields.get('protect') === 'true') o.protect = true;
  return o;
}
