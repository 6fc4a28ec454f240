import { buildConninfo, publisherConninfo } from '../model/conninfo.js';
import { quoteLiteral } from '../model/sql.js';
import type { Topology } from '../model/topology.js';

/**
 * Plans carry connection strings with the password as ****; at execution the executor
 * puts the real one back. Returns a function that does that for one SQL statement.
 */
export function secretFiller(topology: Topology): (sql: string) => string {
  const pairs: Array<[string, string]> = [];
  for (const node of Object.values(topology.nodes)) {
    const conn = node.replicationConnection ?? node.connection;
    const opts = { passfile: node.replicationPassfile };
    const masked = quoteLiteral(buildConninfo(conn, { ...opts, maskPassword: true }));
    const real = quoteLiteral(buildConninfo(conn, opts));
    if (masked !== real) pairs.push([masked, real]);
    // with standbys, what subscriptions get: every host
    if (node.standbys) {
      const maskedAll = quoteLiteral(publisherConninfo(node, { maskPassword: true }));
      const realAll = quoteLiteral(publisherConninfo(node));
      if (maskedAll !== realAll) pairs.push([maskedAll, realAll]);
    }
  }
  return (sql) => pairs.reduce((s, [masked, real]) => s.split(masked).join(real), sql);
}
