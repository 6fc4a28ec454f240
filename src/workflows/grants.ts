import { loadTopology } from '../config/load.js';
import { SteepError } from '../model/errors.js';
import { type GrantFacts, grantScripts } from '../planner/preflight/grants.js';
import { stateMigrations } from '../state/migrations.js';
import { observe } from './plan.js';

/**
 * `steep grants`: the role setup script of each node of steep.yaml: from the nodes themselves (only
 * what steep's role lacks there), or for `--pg-version` (nothing connects: all it may lack).
 */
export async function grantsOf(configPath: string, opts: { pgVersion?: number }) {
  const offline = opts.pgVersion !== undefined;
  const { topology, warnings } = await loadTopology(configPath, { maskUnsetPasswords: offline });
  const facts: Record<string, GrantFacts> = {};
  if (offline) {
    for (const name of Object.keys(topology.nodes)) facts[name] = { serverVersion: opts.pgVersion! * 10000 };
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
      facts[name] = { serverVersion: n.serverVersion, node: n };
    }
  }
  return {
    nodes: grantScripts(topology, facts, stateMigrations(topology.settings.stateSchema)),
    configWarnings: warnings,
  };
}
