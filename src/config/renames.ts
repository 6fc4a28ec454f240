import type { Topology } from '../model/topology.js';
import { identifierProblem } from './identifiers.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';

/**
 * `renamedFrom:` on a publication or a subscription: an identifier, not the object's own name,
 * not a name the file still declares for that kind, and claimed by one object only. Whether the
 * old name exists is the plan's question (planner/renames.ts).
 */
export function checkRenames(topology: Topology, positions: SourceMap, problems: ProblemList): void {
  for (const kind of ['publications', 'subscriptions'] as const) {
    const declared: Record<string, { renamedFrom?: string }> = topology[kind];
    const what = kind === 'publications' ? 'publication' : 'subscription';
    const claimedBy = new Map<string, string>();
    for (const name of Object.keys(declared).sort()) {
      const from = declared[name]!.renamedFrom;
      if (from === undefined) continue;
      const at = positions.value([kind, name, 'renamedFrom']);
      const problem = identifierProblem(from);
      const other = claimedBy.get(from);
      if (problem) {
        problems.error('bad-identifier', `${what} \`${name}\`: renamedFrom \`${from}\` ${problem}`, at);
      } else if (from === name) {
        problems.error(
          'bad-rename',
          `${what} \`${name}\`: renamedFrom names the ${what} itself; remove renamedFrom`,
          at,
        );
      } else if (Object.hasOwn(declared, from)) {
        problems.error(
          'bad-rename',
          `${what} \`${name}\`: renamedFrom \`${from}\`, but steep.yaml still declares ${what} \`${from}\`; remove one of them`,
          at,
        );
      } else if (other !== undefined) {
        problems.error(
          'bad-rename',
          `${what}s \`${other}\` and \`${name}\` are both renamedFrom \`${from}\`; one object can take only one new name`,
          at,
        );
      } else claimedBy.set(from, name);
    }
  }
}
