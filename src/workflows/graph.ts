import { loadTopology } from '../config/load.js';
import { topologyGraph } from '../planner/graph.js';
import { observe } from './plan.js';
import { readStatus } from './status.js';

/**
 * `steep graph`: the topology of steep.yaml; with `live`, the nodes' catalogs and states too.
 * Without `live` nothing connects, so an unset password variable is no error.
 */
export async function graphOf(configPath: string, opts: { live: boolean }) {
  const { topology, warnings } = await loadTopology(configPath, { maskUnsetPasswords: !opts.live });
  if (!opts.live) return { graph: topologyGraph(topology), configWarnings: warnings };
  const [observed, status] = await Promise.all([observe(topology), readStatus(topology)]);
  const states: Record<string, string> = {};
  for (const s of status.subscriptions)
    states[`${s.node}/${s.name}`] = s.exists === false ? 'absent' : s.state;
  return { graph: topologyGraph(topology, { observed, states }), configWarnings: warnings };
}
