import { loadTopology } from '../config/load.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import type { NodeGrants } from '../model/privileges.js';
import { grantScripts } from '../planner/preflight/grants.js';
import { observe } from './plan.js';

/**
 * `steep grants`: the role setup script of each node of steep.yaml. The server versions come
 * from `--pg-version` (nothing connects) or from the nodes themselves.
 */
export async function grantsOf(
  configPath: string,
  opts: { pgVersion?: number },
): Promise<{ nodes: NodeGrants[]; configWarnings: Problem[] }> {
  const offline = opts.pgVersion !== undefined;
  const { topology, warnings } = await loadTopology(configPath, { maskUnsetPasswords: offline });
  const versions: Record<string, number> = {};
  if (offline) {
    for (const name of Object.keys(topology.nodes)) versions[name] = opts.pgVersion! * 10000;
  } else {
    const observed = await observe(topology);
    for (const name of Object.keys(topology.nodes)) {
      const n = observed.nodes[name];
      if (!n?.reachable)
        throw new SteepError(
          'grants.unreachable',
          `${name}: the node was not read (${n && !n.reachable ? n.error : 'no answer'}); check its connection settings, or name the server version with --pg-version`,
          { node: name },
        );
      versions[name] = n.serverVersion;
    }
  }
  return { nodes: grantScripts(topology, versions), configWarnings: warnings };
}
