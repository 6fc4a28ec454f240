import type { Change } from '../model/plan.js';
import { quoteIdent } from '../model/sql.js';
import type { StepWords } from './adopt.js';
import type { PlanContext } from './context.js';
import type { Rename } from './renames.js';
import { tx } from './sqlBuild.js';
import { moveSubscriptionStateSql } from './stateSchema.js';

/**
 * The part of a publication's or a subscription's step that renames it (`renames.ts` decides
 * which): the RENAME first, then (a subscription) what steep's state schema records under the
 * old name, all in one transaction with the step's other transactional statements; its change
 * and the sentence that opens its reason.
 */

export function renamePart(ctx: PlanContext, kind: 'publication' | 'subscription', r: Rename, slot?: string) {
  const keyword = kind === 'publication' ? 'PUBLICATION' : 'SUBSCRIPTION';
  const statements = [tx(`ALTER ${keyword} ${quoteIdent(r.from)} RENAME TO ${quoteIdent(r.to)}`)];
  if (kind === 'subscription')
    statements.push(
      ...moveSubscriptionStateSql(ctx.desired.settings.stateSchema, r.node, r.from, r.to).map(tx),
    );
  const why = r.implicit
    ? `steep.yaml no longer declares ${r.from} and declares ${r.to}, which reads the same publisher, publications and slot`
    : `steep.yaml renames ${r.from} (renamedFrom)`;
  const keeps =
    kind === 'subscription'
      ? `, keeping its slot ${slot ?? r.from}, its replication origin and every change not yet applied`
      : '';
  return {
    statements,
    change: { path: 'name', before: r.from, after: r.to },
    text: `${why}: renamed to ${r.to} in place on ${r.node}${keeps}`,
  };
}

/** The reason of a renamed object's step: the rename's, then what else the step changes. */
export function renameWords(
  part: ReturnType<typeof renamePart>,
  changes: readonly Change[],
  other: StepWords,
  more: boolean,
): StepWords {
  const paths = changes.map((c) => c.path).filter((p) => p !== 'comment' && !p.startsWith('init.'));
  const also = more || paths.length > 0 || other.action === 'adopt';
  return {
    action: other.action,
    reason: also ? other.reason : 'config-changed',
    reasonText: also ? `${part.text}; ${other.reasonText}` : part.text,
  };
}
