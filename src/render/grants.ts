import type { NodeGrants } from '../model/privileges.js';

/** Per node: a header comment, then the script, ready for psql. */
export function renderGrantsText(nodes: readonly NodeGrants[]): string {
  return nodes
    .map((n) =>
      [
        `-- node ${n.node} (PostgreSQL ${Math.floor(n.serverVersion / 10000)}), role ${n.role}: run as the cloud's admin role (or a superuser) with psql -v ON_ERROR_STOP=1`,
        ...n.lines,
      ].join('\n'),
    )
    .join('\n\n');
}
