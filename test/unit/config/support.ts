import { parseTopology } from '../../../src/config/load.js';
import { type Problem, SteepError } from '../../../src/model/errors.js';
import type { Topology } from '../../../src/model/topology.js';

/** `${env:NAME}` without tripping the linter on template-like strings. */
export function envRef(name: string): string {
  return `\${env:${name}}`;
}

export interface Outcome {
  topology?: Topology;
  errors: Problem[];
  warnings: Problem[];
}

/** parseTopology, with its problems split into errors and warnings instead of thrown. */
export function check(text: string, env: NodeJS.ProcessEnv = {}): Outcome {
  try {
    const { topology, warnings } = parseTopology(text, 'steep.yaml', env);
    return { topology, errors: [], warnings };
  } catch (e) {
    if (!(e instanceof SteepError)) throw e;
    return {
      errors: e.problems.filter((p) => p.severity === 'error'),
      warnings: e.problems.filter((p) => p.severity === 'warning'),
    };
  }
}

/** "line:column" of a problem. */
export function at(p: Problem | undefined): string {
  return p?.position ? `${p.position.line}:${p.position.column}` : 'no position';
}

/** A valid two-node file; tests replace or append lines. */
export const BASE = `version: 1
topology: orders-eu
nodes:
  east:
    url: postgres://steep@east.internal:5432/app
  west:
    url: postgres://steep@west.internal:5432/app
publications:
  orders_pub:
    node: east
    tables: [public.orders]
subscriptions:
  west_orders:
    node: west
    from: east
    publications: [orders_pub]
`;
