import type pg from 'pg';
import { readPublishedScope } from '../catalog/compareScope.js';
import { readSequencePrivileges, readSequenceStates, readSequences } from '../catalog/sequences.js';
import { SteepError } from '../model/errors.js';
import type { SequenceOutcome } from '../model/sequences.js';
import { displayTable } from '../model/sql.js';
import type { SubscriptionSpec, TableName } from '../model/topology.js';
import { decideSequence, type SequenceSyncOptions, sequencePrivilegeErrors } from '../planner/sequences.js';

/**
 * The I/O of moving sequence values to a subscriber: read where each stands on both nodes,
 * let `planner/sequences.ts` decide, run its setval statements on the subscriber.
 */

export interface SequenceSelection {
  /** only these sequences (`schema.name`, or a bare name in public); unknown ones are an error */
  only?: readonly string[];
}

/** The sequences of `tables` on the publisher (owned by, used by a default, or standalone in their schemas). */
export async function publishedSequences(
  pub: pg.Client,
  tables: readonly TableName[],
  selection: SequenceSelection = {},
): Promise<TableName[]> {
  const all = await readSequences(pub, tables);
  if (!selection.only) return all;
  const wanted = selection.only.map((w) => {
    const dot = w.indexOf('.');
    return dot < 0 ? `public.${w}` : w;
  });
  const known = new Set(all.map((s) => `${s.schema}.${s.name}`));
  const unknown = wanted.filter((w) => !known.has(w));
  if (unknown.length > 0)
    throw new SteepError(
      'sequences.unknown',
      `${unknown.join(', ')} ${unknown.length === 1 ? 'is not a sequence' : 'are not sequences'} of the subscribed tables (they have ${all.map(displayTable).join(', ') || 'none'})`,
    );
  return all.filter((s) => wanted.includes(`${s.schema}.${s.name}`));
}

/** The last value each of `seqs` handed out on a node (null: none yet). */
export async function sequenceValues(
  client: pg.Client,
  seqs: readonly TableName[],
): Promise<Array<{ schema: string; name: string; last: string | null }>> {
  const states = await readSequenceStates(client, seqs);
  return seqs.map((s) => ({ ...s, last: states.get(`${s.schema}.${s.name}`)?.last ?? null }));
}

/**
 * Set the subscriber's sequences from `source` (each one's last value on the publisher, null
 * when none handed out): one setval per sequence that moves, never backwards unless allowed.
 */
export async function setSequencesFrom(
  sub: pg.Client,
  source: ReadonlyArray<{ schema: string; name: string; last: string | null }>,
  opts: SequenceSyncOptions,
): Promise<SequenceOutcome[]> {
  const targets = await readSequenceStates(sub, source);
  const outcomes: SequenceOutcome[] = [];
  for (const s of source) {
    const d = decideSequence(s, targets.get(`${s.schema}.${s.name}`), opts);
    if (d.sql) await sub.query(d.sql);
    outcomes.push(d.outcome);
  }
  return outcomes;
}

/**
 * Copy the values of `seqs` from the publisher's sequences to the subscriber's. A setval is never
 * undone, so what the roles may not do on either node is refused first, before any value is read
 * or set; `what` names the command in that sentence.
 */
export async function syncSequences(
  pub: pg.Client,
  sub: pg.Client,
  seqs: readonly TableName[],
  opts: SequenceSyncOptions,
  what = 'the sequences sync',
): Promise<SequenceOutcome[]> {
  await refuseSequenceAccess({ pub, sub }, seqs, opts, what);
  return setSequencesFrom(sub, await sequenceValues(pub, seqs), opts);
}

/**
 * `sequences.privilege`, naming the GRANTs, when the role may not read `seqs` on the publisher
 * (`pub` null: their values come from a snapshot's manifest) or read and set them on the
 * subscriber; `after` says what the refusal left.
 */
export async function refuseSequenceAccess(
  on: { pub: pg.Client | null; sub: pg.Client },
  seqs: readonly TableName[],
  nodes: { publisher: string; subscriber: string },
  what: string,
  after?: string,
): Promise<void> {
  const [source, target] = await Promise.all([
    on.pub && readSequencePrivileges(on.pub, seqs),
    readSequencePrivileges(on.sub, seqs),
  ]);
  const errors = sequencePrivilegeErrors(
    seqs,
    source && { node: nodes.publisher, ...source },
    { node: nodes.subscriber, ...target },
    what,
    after,
  );
  if (errors.length > 0)
    throw new SteepError('sequences.privilege', errors[0]!, {
      node: nodes.subscriber,
      problems: errors.map((message) => ({ severity: 'error', code: 'sequences.privilege', message })),
    });
}

/**
 * The sequences of the tables `d`'s publications publish, once the roles may read them on the
 * publisher and read and set them on the subscriber: a copy sets them after its last table, so
 * it checks first (refuseSequenceAccess).
 */
export async function settableSequences(
  on: { pub: pg.Client; sub: pg.Client },
  d: SubscriptionSpec,
  pubVersion: number,
  what: string,
  after: string,
  stateSchema: string,
): Promise<TableName[]> {
  const scope = await readPublishedScope(on.pub, pubVersion, [...d.publications], stateSchema);
  const sequences = await publishedSequences(
    on.pub,
    scope.map((x) => x.table),
  );
  await refuseSequenceAccess(on, sequences, { publisher: d.from, subscriber: d.node }, what, after);
  return sequences;
}
