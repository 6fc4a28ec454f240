import type { Ownership } from './cluster.js';

/**
 * steep marks what it creates with a comment:
 *   `managed by steep: topology=orders-eu`                      (publications)
 *   `managed by steep: topology=orders-eu conn=sha256:<hex>`    (subscriptions)
 *   `… protect=true`                                            (declared with protect: true)
 *   `… slot=<name>`   a renamed subscription's slot, which kept its old name (the file has no `slot:`)
 * `conn` is the SHA-256 of the connection string steep set, with its password masked, so a
 * connection change is detected even where subconninfo cannot be read (and no
 * password-derived value is stored).
 */
const PREFIX = 'managed by steep:';

export function formatOwnership(o: Ownership): string {
  return `${PREFIX} topology=${o.topology}${o.connHash ? ` conn=sha256:${o.connHash}` : ''}${o.protect ? ' protect=true' : ''}${o.slot ? ` slot=${o.slot}` : ''}`;
}

/**
 * The comment an adopted object keeps: whatever the DBA wrote there, then steep's marker on a
 * line of its own (an earlier marker is replaced). steep never discards a comment it did not write.
 */
export function commentWithMarker(existing: string | null, marker: string): string {
  const own = ownText(existing);
  return own ? `${own}\n${marker}` : marker;
}

/** The part of a comment steep did not write (before its marker), trimmed; '' when none. */
export function ownText(comment: string | null): string {
  if (!comment) return '';
  const at = markerIndex(comment);
  return (at < 0 ? comment : comment.slice(0, at)).trim();
}

/** Where steep's marker starts: at the start of the comment or of its last line. */
function markerIndex(comment: string): number {
  if (comment.startsWith(PREFIX)) return 0;
  const at = comment.lastIndexOf(`\n${PREFIX}`);
  return at < 0 ? -1 : at + 1;
}

export function parseOwnership(comment: string | null): Ownership | null {
  if (!comment) return null;
  const at = markerIndex(comment);
  if (at < 0) return null;
  // each whitespace-separated `key=value` after the prefix (the value runs to the next space)
  const fields = new Map(
    Array.from(comment.slice(at + PREFIX.length).matchAll(/(?<!\S)([^=\s]+)=(\S*)/g), (m) => [m[1], m[2]]),
  );
  const topology = fields.get('topology');
  if (!topology) return null;
  const conn = fields.get('conn');
  const o: Ownership = { topology };
  if (conn?.startsWith('sha256:')) o.connHash = conn.slice('sha256:'.length);
  if (fields.get('protect') === 'true') o.protect = true;
  const slot = fields.get('slot');
  if (slot) o.slot = slot;
  return o;
}

/**
 * The other steep topology an object is managed by, or null (this topology's, or no marker). A
 * subscriber database may be shared by topologies (docs/import.md): another one's subscription is
 * left alone, never judged nor recorded in the state both keep there.
 */
export function foreignTopology(o: { managedBy: Ownership | null }, topology: string): string | null {
  const by = o.managedBy?.topology;
  return by !== undefined && by !== topology ? by : null;
}
