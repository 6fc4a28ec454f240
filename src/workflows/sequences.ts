import type pg from 'pg';
import { readPublishedScope, readSubscriptionInfo } from '../catalog/compareScope.js';
import { readSequenceStates } from '../catalog/sequences.js';
import { serverVersionOf } from '../catalog/session.js';
import { loadTopology } from '../config/load.js';
import { publishedSequences, syncSequences } from '../executors/sequenceSync.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { type SequenceLag, type SequenceSyncReport, sequenceSyncReport } from '../model/sequences.js';
import type { SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { declaredSubscription } from '../model/topology.js';
import { sequenceLag } from '../planner/sequences.js';
import { reverseName } from '../planner/switchover/reverseChecks.js';
import { withPair } from './verify.js';

/**
 * `steep sequences sync SUBSCRIPTION` (docs/commands.md): logical replication does not carry sequence
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
  /**
   * the way back after a switchover: from the subscriber's sequences to the publisher's (the
   * subscribed tables' sequences, read as for the forward direction)
   */
  reverse?: boolean;
}

const APPLICATION_NAME = 'steep sequences';

/** The subscribed tables: the live subscription's publications (the declared ones before it exists). */
async function subscribedTables(
  pub: pg.Client,
  sub: pg.Client,
  d: SubscriptionSpec,
  stateSchema: string,
): Promise<TableName[]> {
  const publications = (await readSubscriptionInfo(sub, d.name))?.publications ?? [...d.publications];
  const scope = await readPublishedScope(pub, await serverVersionOf(pub), publications, stateSchema);
  if (scope.length === 0)
    throw new SteepError(
      'sequences.no_tables',
      `publications ${publications.join(', ')} of subscription ${d.name} publish no table on ${d.from} (do they exist? run steep apply first)`,
      { node: d.from, address: subscriptionAddress(d.name) },
    );
  return scope.map((s) => s.table);
}

/** Run `body` on sessions to the publisher and subscriber of `d`: `clients` when given (left open), else its own. */
async function onPair<T>(
  topology: Topology,
  d: SubscriptionSpec,
  clients: { pub: pg.Client; sub: pg.Client } | undefined,
  body: (pub: pg.Client, sub: pg.Client) => Promise<T>,
): Promise<T> {
  if (clients) return body(clients.pub, clients.sub);
  return withPair(topology, [d.from, d.node], 'plain', APPLICATION_NAME, body);
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
  return onPair(topology, d, clients, async (pub, sub) => {
    const seqs = await publishedSequences(
      pub,
      await subscribedTables(pub, sub, d, topology.settings.stateSchema),
      { only: opts.only },
    );
    // the way back: the values come from the subscriber and are set on the publisher
    const [source, target, from, to] = opts.reverse ? [sub, pub, d.node, d.from] : [pub, sub, d.from, d.node];
    const base = {
      subscription: d.name,
      publisher: from,
      subscriber: to,
      headroom: (opts.headroom ?? 0n).toString(),
      allowBackwards: opts.allowBackwards === true,
    };
    const outcomes = await syncSequences(
      source,
      target,
      seqs,
      { headroom: opts.headroom ?? 0n, allowBackwards: base.allowBackwards, publisher: from, subscriber: to },
      `the sequences sync of subscription ${d.name}`,
    );
    return sequenceSyncReport(base, outcomes);
  });
}

/**
 * `drift --sequences`: the subscriber sequences of `d` more than settings.sequenceLag values
 * behind the publisher's, or absent. Read-only.
 */
export async function sequenceLags(topology: Topology, d: SubscriptionSpec): Promise<SequenceLag[]> {
  return onPair(topology, d, undefined, async (pub, sub) => {
    const seqs = await publishedSequences(
      pub,
      await subscribedTables(pub, sub, d, topology.settings.stateSchema),
    );
    const [source, target] = await Promise.all([
      readSequenceStates(pub, seqs),
      readSequenceStates(sub, seqs),
    ]);
    const threshold = BigInt(topology.settings.sequenceLag ?? 0);
    const where = { subscription: d.name, node: d.node, from: d.from };
    return [...source].flatMap(([key, s]) => sequenceLag(s, target.get(key), threshold, where) ?? []);
  });
}

export async function sequencesSync(configPath: string, subscription: string, opts: SequencesSyncOptions) {
  const { topology, warnings } = await loadTopology(configPath);
  const reversed = reverseOf(topology, subscription);
  const d = reversed ?? declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  const report = await syncSubscriptionSequences(topology, d, {
    ...opts,
    reverse: reversed !== null || opts.reverse === true,
  });
  return { report: reversed ? { ...report, subscription } : report, configWarnings: warnings };
}

/**
 * The declared subscription whose way back `name` is: `steep switchover --reverse` names the
 * reverse subscription `steep_reverse_<subscription>` (planner/switchover/switchover.ts reverseName); it is
 * not in the file, and its sequences are the forward subscription's, the other way. Null when
 * `name` is declared itself or is no such name.
 */
function reverseOf(topology: Topology, name: string): SubscriptionSpec | null {
  if (topology.subscriptions[name]) return null;
  const forward = Object.keys(topology.subscriptions).find((s) => reverseName(s) === name);
  return forward ? declaredSubscription(topology, forward, 'verify.unknown_subscription') : null;
}
