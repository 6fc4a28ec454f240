import { publisherConninfo } from '../model/conninfo.js';
import { quoteLiteral } from '../model/sql.js';
import type { Topology } from '../model/topology.js';

/**
 * Plans carry connection strings with the password as ****; at execution the executor
 * puts the real one back. Returns a function that does that for one SQL statement.
 */
export function secretFiller(topology: Topology): (sql: string) => string {
  const pairs: Array<[string, string]> = [];
  for (const node of Object.values(topology.nodes)) {
    // the node alone, and with standbys what subscriptions get: every host
    for (const withStandbys of node.standbys ? [false, true] : [false]) {
      const masked = quoteLiteral(publisherConninfo(node, { maskPassword: true, withStandbys }));
      const real = quoteLiteral(publisherConninfo(node, { withStandbys }));
      if (masked !== real) pairs.push([masked, real]);
    }
  }
  return (sql) => pairs.reduce((s, [masked, real]) => s.split(masked).join(real), sql);
}
