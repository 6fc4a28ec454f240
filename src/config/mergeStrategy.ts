import type { InitMethod } from '../model/initMethods.js';
import { ONE_WAY_STRATEGY_SYNTAX, parseStrategy, STRATEGY_SYNTAX } from '../model/mergeStrategy.js';
import { identifierProblem } from './identifiers.js';
import type { NormaliseContext as Context } from './normalise.js';
import type { Path } from './paths.js';

export type StrategyOwner =
  | { link: string; nodes: [string, string] }
  | { subscription: string; node: string; from: string };

/**
 * `init.strategy` of a merge (the text as written: the executor ties it to the nodes): required
 * for merge, one of the forms of docs/steep-yaml.md, naming a node of the pair. null when it is wrong
 * (reported); undefined when there is none (and none is needed).
 */
export function checkStrategy(
  ctx: Context,
  initPath: Path,
  method: InitMethod,
  owner: StrategyOwner,
): string | null | undefined {
  const { reader, positions, problems } = ctx;
  const path = [...initPath, 'strategy'];
  const text = reader.string(path);
  const who = 'link' in owner ? `link \`${owner.link}\`` : `subscription \`${owner.subscription}\``;
  const syntax = 'link' in owner ? STRATEGY_SYNTAX : ONE_WAY_STRATEGY_SYNTAX;
  if (method !== 'merge') {
    if (text !== undefined) {
      problems.warning(
        'strategy-ignored',
        `${who}: \`strategy\` applies only to init method merge; it is ignored`,
        positions.key(path),
      );
    }
    return undefined;
  }
  if (text === undefined) {
    if (reader.broken.has(path)) return null;
    problems.error(
      'merge-strategy',
      `${who}: init method merge needs a \`strategy\` for conflicting rows`,
      'link' in owner && !reader.has([...initPath, 'method'])
        ? positions.container(initPath)
        : positions.key([...initPath, 'method']),
      syntax,
    );
    return null;
  }
  const problem = strategyProblem(text, owner);
  if (problem) {
    problems.error('merge-strategy', `${who}: strategy ${problem}`, positions.value(path), syntax);
    return null;
  }
  return text.trim();
}

/** What is wrong with a strategy's text for this pair; undefined when nothing is. */
function strategyProblem(text: string, owner: StrategyOwner): string | undefined {
  const parsed = parseStrategy(text);
  const pairNodes = 'link' in owner ? owner.nodes : [owner.from, owner.node];
  if (!parsed) return `\`${text}\` is not a strategy`;
  if ('link' in owner && (parsed.kind === 'prefer-source' || parsed.kind === 'prefer-target'))
    return `\`${text}\` names no node: a link has no source or target; say which node wins with prefer:${owner.nodes[0]} or prefer:${owner.nodes[1]}`;
  if (parsed.kind === 'prefer' && !pairNodes.includes(parsed.node))
    return `\`${text}\` names node \`${parsed.node}\`, which is not one of ${pairNodes.map((n) => `\`${n}\``).join(' and ')}`;
  if (parsed.kind === 'last-modified' && identifierProblem(parsed.column))
    return `column name \`${parsed.column}\` ${identifierProblem(parsed.column)}`;
  return undefined;
}

/**
 * `init.strategies` of a merge: a strategy per table (`schema.table`, public when no schema; the
 * default `strategy` for the rest), each checked as `strategy` is, never `manual` (which stops
 * the whole merge). Keyed by `schema.table`; null when one is wrong (reported), undefined when
 * there are none.
 */
export function checkStrategies(
  ctx: Context,
  initPath: Path,
  method: InitMethod,
  owner: StrategyOwner,
): Record<string, string> | null | undefined {
  const { reader, positions, problems } = ctx;
  const path = [...initPath, 'strategies'];
  const tables = reader.keys(path);
  if (tables.length === 0) return undefined;
  const who = 'link' in owner ? `link \`${owner.link}\`` : `subscription \`${owner.subscription}\``;
  if (method !== 'merge') {
    problems.warning(
      'strategy-ignored',
      `${who}: \`strategies\` applies only to init method merge; it is ignored`,
      positions.key(path),
    );
    return undefined;
  }
  const syntax = 'link' in owner ? STRATEGY_SYNTAX : ONE_WAY_STRATEGY_SYNTAX;
  const out: Record<string, string> = {};
  let ok = true;
  for (const table of tables) {
    const text = reader.string([...path, table]);
    if (text === undefined) {
      ok = false;
      continue;
    }
    const name = table.includes('.') ? table : `public.${table}`;
    const problem =
      parseStrategy(text)?.kind === 'manual'
        ? `\`manual\` applies to the whole merge (init.strategy), not to one table`
        : strategyProblem(text, owner);
    if (problem) {
      problems.error(
        'merge-strategy',
        `${who}: strategy of ${name}: ${problem}`,
        positions.value([...path, table]),
        syntax,
      );
      ok = false;
      continue;
    }
    out[name] = text.trim();
  }
  return ok ? out : null;
}
