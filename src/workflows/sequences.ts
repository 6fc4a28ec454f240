import type pg from 'pg';
import { serverVersionOf } from '../catalog/initProgress.js';
import { readPublishedScope, readSubscriptionInfo } from '../catalog/rowHashes.js';
import { loadTopology } from '../config/load.js';
import { connect } from '../db/connect.js';
import { publishedSequences, syncSequences } from '../executors/sequenceSync.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import { type SequenceSyncReport, sequenceSyncReport } from '../model/sequences.js';
import type { SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { subscriptionSpec } from './verify.js';

/**
 * `steep sequences sync SUBSCRIPTION` (SPEC §4): logical replication does not carry sequence
 * values, so before writes move to the subscriber its sequences must be brought up to the
 * publisher's. The sequences are those of the subscribed tables: owned by one of their columns
 * (serial, identity), called by one of their defaults, or standalone in their schemas.
 */

export interface SequencesSyncOptions {
  /** added to each publisher value in the sequence's direction (default 0: the exact value) */
  headroom?: bigint;
  /** move a subscriber sequence that is already past the target back to it */
  allowBackwards?: boolean;
  /** only these sequences (`schema.name`; a bare name is in public) */
  only?: readonly string[];
}

const APPLICATION_NAME = 'steep sequences';

/** The subscribed tables: the live subscription's publications (the declared ones before it exists). */
async function subscribedTables(pub: pg.Client, sub: pg.Client, d: SubscriptionSpec): Promise<TableName[]> {
  const publications = (await readSubscriptionInfo(sub, d.name))?.publications ?? [...d.publications];
  const scope = await readPublishedScope(pub, await serverVersionOf(pub), publications);
  if (scope.length === 0)
    throw new SteepError(
      'sequences.no_tables',
      `publications ${publications.join(', ')} of subscription ${d.name} publish no table on ${d.from} (do they exist? run steep apply first)`,
      { node: d.from, address: `subscription.${d.name}` },
    );
  return scope.map((s) => s.table);
}

/**
 * Bring the subscriber's sequences of subscription `d` to the publisher's values (plus
 * `headroom`), never backwards unless `allowBackwards`. Uses `clients` when given (left
 * open), else opens and closes its own sessions. Returns what happened to each sequence.
 */
export async function syncSubscriptionSequences(
  topology: Topology,
  d: SubscriptionSpec,
  opts: SequencesSyncOptions = {},
  clients?: { pub: pg.Client; sub: pg.Client },
): Promise<SequenceSyncReport> {
  const open = (node: string) =>
    connect(topology.nodes[node]!.connection, {
      node,
      applicationName: APPLICATION_NAME,
      connectTimeoutMs: topology.settings.connectTimeout,
    });
  const pub = clients?.pub ?? (await open(d.from));
  let sub: pg.Client | undefined = clients?.sub;
  try {
    sub ??= await open(d.node);
    const seqs = await publishedSequences(pub, await subscribedTables(pub, sub, d), { only: opts.only });
    const base = {
      subscription: d.name,
      publisher: d.from,
      subscriber: d.node,
      headroom: (opts.headroom ?? 0n).toString(),
      allowBackwards: opts.allowBackwards === true,
    };
    const outcomes = await syncSequences(pub, sub, seqs, {
      headroom: opts.headroom ?? 0n,
      allowBackwards: base.allowBackwards,
      publisher: d.from,
      subscriber: d.node,
    });
    return sequenceSyncReport(base, outcomes);
  } finally {
    if (!clients) {
      await pub.end().catch(() => {});
      await sub?.end().catch(() => {});
    }
  }
}

export async function sequencesSync(
  configPath: string,
  subscription: string,
  opts: SequencesSyncOptions,
): Promise<{ report: SequenceSyncReport; configWarnings: Problem[] }> {
  const { topology, warnings } = await loadTopology(configPath);
  const d = subscriptionSpec(topology, subscription);
  return { report: await syncSubscriptionSequences(topology, d, opts), configWarnings: warnings };
}
