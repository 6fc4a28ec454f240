/**
 * `steep switchover SUBSCRIPTION` (docs/switchover.md): move writes from the subscription's publisher (the
 * old primary) to its subscriber (the new primary), provably. Preflight reads both nodes and
 * changes nothing; then fence → drain → sequences → verify → reverse → release, each a timed
 * step with an event and an `apply_log` row (`SwitchoverRun`, workflows/switchoverRun.ts). A
 * failure or a signal before the release undoes what was done (the reverse objects dropped, the
 * roles writable again) and says so. Holds steep's advisory lock on both nodes throughout.
 */
import type pg from 'pg';
import { readPublishedScope, readSubscriptionInfo, type SubscriptionInfo } from '../catalog/compareScope.js';
import { readDisableOnError } from '../catalog/errorCounters.js';
import { readReplicaModeGrants } from '../catalog/replicaModeGrants.js';
import { readSequencePrivileges, readSequenceStates } from '../catalog/sequences.js';
import { serverVersionOf } from '../catalog/session.js';
import {
  hashSample,
  readCapacity,
  readFencedTables,
  readFencePrivileges,
  readFenceScope,
  readFlushLsn,
  readInboundSubscriptions,
  readLogins,
  readPreparedXacts,
  readRoleFacts,
  readSlotPosition,
  readSubscriptionOrigin,
  serverNow,
} from '../catalog/switchover.js';
import { readTableObjects } from '../catalog/tableSchemas.js';
import { loadTopology } from '../config/load.js';
import { withSession } from '../db/connect.js';
import { publishedSequences } from '../executors/sequenceSync.js';
import { type NodeClients, waitLagUnder } from '../executors/switchover.js';
import { subscriptionAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { lsnValue } from '../model/lsn.js';
import { displayTable, quoteTable } from '../model/sql.js';
import {
  emptyReport,
  type StepTiming,
  type SwitchoverFacts,
  type SwitchoverOptions,
} from '../model/switchover.js';
import type { SubscriptionSpec, TableName, Topology } from '../model/topology.js';
import { declaredSubscription, qualifiedName, tableOfQualified } from '../model/topology.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import { isComparison } from '../planner/compare/verify.js';
import { decideSequence } from '../planner/sequences.js';
import { fenceTriggerName } from '../planner/switchover/dataFence.js';
import { objectChecks } from '../planner/switchover/objectChecks.js';
import { reverseName } from '../planner/switchover/reverseChecks.js';
import { planSwitchover } from '../planner/switchover/switchover.js';
import { fenceRoles, linkProblem, switchoverProblems } from '../planner/switchover/switchoverChecks.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { lockedPair } from './reinit.js';
import { failoverDivergedNow } from './reinitSlot.js';
import { readReverseFacts, reverseConninfo } from './switchoverReverse.js';
import { SwitchoverRun, type SwitchoverRunOptions } from './switchoverRun.js';
import { openSession } from './verify.js';
import { planVerify } from './verifyScope.js';

const APPLICATION_NAME = 'steep switchover';

export async function switchover(configPath: string, subscription: string, opts: SwitchoverRunOptions) {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  const link = linkProblem(d);
  if (link) throw new SteepError('switchover.link', link, { address: subscriptionAddress(d.name) });
  const { clients } = await lockedPair(topology, d, 'switchover', {
    statementTimeoutMs: topology.settings.statementTimeout,
    lockTimeoutMs: topology.settings.lockTimeout,
  });
  try {
    const pre = Date.now();
    const { facts, verifyTables } = await readFacts(topology, d, clients, opts);
    if (facts.slot?.lagBytes != null && facts.slot.lagBytes > opts.maxLagBytes) {
      opts.onEvent({
        event: 'switchover.lag_wait',
        level: 'info',
        subscription: d.name,
        message: `${d.name} lags ${facts.slot.lagBytes} bytes, more than --max-lag: waiting up to --lag-timeout ${opts.lagTimeoutMs / 1000}s for it to drop`,
      });
      const waited = await waitLagUnder(
        clients.get(d.from)!,
        facts.slot.name,
        opts.maxLagBytes,
        opts.lagTimeoutMs,
        opts.signal,
        (message) =>
          opts.onEvent({ event: 'switchover.waiting', level: 'info', subscription: d.name, message }),
      );
      facts.slot.lagBytes = waited.lagBytes;
      facts.slot.active = waited.active;
    }
    if ((facts.prepared ?? []).length > 0 && (opts.waitPreparedMs ?? 0) > 0)
      facts.prepared = await waitPrepared(clients.get(d.from)!, d, facts.prepared!, opts);
    for (const message of objectChecks(facts, opts).warnings)
      opts.onEvent({ event: 'switchover.missing_objects', level: 'warn', subscription: d.name, message });
    const problems = switchoverProblems(facts, opts);
    if (problems.length > 0)
      throw new SteepError('switchover.preflight', problems[0]!, {
        node: d.from,
        address: subscriptionAddress(d.name),
        problems: problems.map((message) => ({ severity: 'error', code: 'switchover.preflight', message })),
      });
    const plan = planSwitchover(facts, opts, {
      reverseConninfo: reverseConninfo(topology, d.node),
      sequenceSql: await sequencePreview(clients, d, facts, opts),
      verifyTables,
    });
    const preflight: StepTiming = {
      id: 'preflight',
      title: `preflight: ${d.name} synchronized, lag ${facts.slot?.lagBytes ?? 0} bytes, ${facts.tables.length} table(s), ${plan.roles.length} role(s) to fence`,
      status: 'completed',
      durationMs: Date.now() - pre,
      detail: null,
    };
    opts.onStep?.(preflight);
    const report = emptyReport(plan, opts.keepSlot);
    report.steps.push(preflight);
    if (opts.dryRun) report.outcome = 'dry-run';
    else await new SwitchoverRun(topology, d, clients, plan, opts, report).execute();
    report.durationMs = Date.now() - t0;
    return { report, configWarnings: warnings };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => {})));
  }
}

async function readFacts(
  topology: Topology,
  d: SubscriptionSpec,
  clients: NodeClients,
  opts: SwitchoverOptions,
): Promise<{ facts: SwitchoverFacts; verifyTables: string[] }> {
  const old = clients.get(d.from)!;
  const neu = clients.get(d.node)!;
  const info = await readSubscriptionInfo(neu, d.name);
  const [oldVersion, newVersion, priv, newPriv] = await Promise.all([
    serverVersionOf(old),
    serverVersionOf(neu),
    readFencePrivileges(old),
    readFencePrivileges(neu),
  ]);
  const schema = topology.settings.stateSchema;
  const state = (await hasInitTables(neu, schema))
    ? ((await new SubscriptionStateStore(schema, d.node).get(neu, d.name))?.state ?? 'uninitialized')
    : null;
  // a hole in a table's stream since its copy (model/continuity.ts), as steep last recorded it
  const continuity = await new StreamContinuityStore(schema, d.node).all(neu);
  const gaps = [...(continuity?.get(d.name)?.values() ?? [])].flatMap((b) =>
    b.gap ? [{ table: b.table, reason: b.gap.reason }] : [],
  );
  const slotName = info?.slot ?? d.slot;
  const slot = await readSlotPosition(old, slotName);
  // the drain as the subscriber confirms the WAL flushed now; the apply rate only when that fails
  const drainMs = slot?.active && slot.lagBytes !== null ? await measureDrain(old, slotName) : null;
  const applyRate =
    drainMs === null && slot && (slot.lagBytes ?? 0) > 0 ? await measureApplyRate(old, slotName) : null;
  const publications = info?.publications ?? [...d.publications];
  const scope = await readPublishedScope(old, oldVersion, publications, topology.settings.stateSchema);
  const tables = scope.map((s) => s.table);
  const quoted = tables.map(quoteTable);
  const roles = await readRoleFacts(old, quoted, opts.roles ?? []);
  const fenced = fenceRoles({ roles, steepRole: priv.role }, opts);
  const asked = [...new Set([...roles.map((r) => r.name), ...fenced])];
  const replicaModeGrants = await readReplicaModeGrants(old, oldVersion, asked);
  // one statement at a time on each session
  const fence = await readFenceScope(old, quoted, schema);
  const prepared = await readPreparedXacts(old);
  const inbound = await readInboundSubscriptions(old, quoted, opts.reverse ? reverseName(d.name) : null);
  const oldCapacity = await readCapacity(old);
  const newLogins = await readLogins(neu, fenced);
  const newFenced = await readFencedTables(neu, quoted, fenceTriggerName(d.name));
  const newFence = await readFenceScope(neu, quoted, schema);
  const newCapacity = await readCapacity(neu);
  const forwardOrigin = await readSubscriptionOrigin(neu, d.name);
  const { reverse, reverseConnectMs } = opts.reverse
    ? await readReverseFacts(topology, d, old, neu, priv.canSubscribe, Math.min(oldVersion, newVersion))
    : { reverse: null, reverseConnectMs: null };
  const verify = await estimateVerify(topology, d, old, neu, info, opts.verify, tables.map(qualifiedName));
  const objects = {
    schemaSync: d.schemaSync,
    old: await readTableObjects(old, tables, schema),
    new: await readTableObjects(neu, tables, schema),
  };
  const facts: SwitchoverFacts = {
    subscription: d.name,
    oldNode: d.from,
    newNode: d.node,
    oldVersion,
    newVersion,
    database: priv.database,
    newDatabase: newPriv.database,
    steepRole: priv.role,
    steepCanFence: priv.canFence,
    steepCanEmit: priv.canEmit,
    fence: { schema, ...fence, newTables: newFence.tables.map((t) => t.table) },
    prepared,
    inbound,
    replicaModeGrants,
    newLogins,
    newFenced,
    capacity: { old: oldCapacity, new: newCapacity },
    forwardOrigin,
    live: info
      ? {
          enabled: info.enabled,
          slot: info.slot,
          tables: Object.fromEntries(info.tables),
          ...(info.enabled
            ? {}
            : { errors: await readDisableOnError(neu, newVersion, d.name, { schema, node: d.node }) }),
        }
      : null,
    declaredEnabled: d.enabled,
    initMethod: d.init.method,
    state,
    gaps,
    slot: slot ? { name: slotName, active: slot.active, lagBytes: slot.lagBytes } : null,
    applyRate,
    measured: {
      drainMs,
      verifyRowsPerSecond: verify.rowsPerSecond,
      verifyFixedMs: verify.fixedMs,
      reverseConnectMs,
      roundTripMs: Math.max(await roundTrip(old), await roundTrip(neu)),
    },
    objects,
    publications,
    tables: tables.map(displayTable),
    unkeyed: verify.unkeyed,
    verifyRows: verify.rows,
    roles,
    ...(await sequenceFacts(old, neu, d, tables, opts.sequences)),
    reverse,
  };
  // disabled, a failover of its publisher that left it diverged: its way out comes before any ENABLE
  if (facts.live?.enabled === false) facts.failoverDiverged = await failoverDivergedNow(topology, d);
  return { facts, verifyTables: verify.tables };
}

/**
 * What the switchover's verify step will compare and an estimate of its time: the rows of the
 * tables it compares, the hash rate of the largest (sampled), and its fixed cost (planning the
 * comparison, and the sessions it opens: two, then two per table, tables two at a time).
 */
async function estimateVerify(
  topology: Topology,
  d: SubscriptionSpec,
  old: pg.Client,
  neu: pg.Client,
  info: SubscriptionInfo | null,
  wanted: SwitchoverOptions['verify'],
  names: string[],
) {
  const planned = Date.now();
  const plans = info ? (await planVerify(old, neu, d, info, undefined, topology)).plans : [];
  const planMs = Date.now() - planned;
  const unkeyed = plans
    .filter((p) => !isComparison(p) && info?.tables.get(qualifiedName(p.table)) === 'r')
    .map((p) => ({ table: displayTable(p.table), reason: (p as { reason: string }).reason }));
  const tables = wanted === 'all' ? names : wanted === 'none' ? [] : verifyList(d, wanted, names);
  const compared = plans
    .filter(isComparison)
    .filter((p) => tables.includes(qualifiedName(p.table)))
    .sort((a, b) => b.estimatedRows - a.estimatedRows);
  let rows = compared.reduce((n, p) => n + Math.max(p.estimatedRows, 0), 0);
  const largest = compared[0];
  const connectMs =
    wanted === 'none' || compared.length === 0
      ? 0
      : Math.max(...(await Promise.all([d.from, d.node].map((n) => connectTime(topology, n)))));
  const sample = largest && wanted !== 'none' ? await hashRate(old, quoteTable(largest.table)) : null;
  // the sample read the whole table: its count replaces the estimate (none before an ANALYZE)
  if (largest && sample?.rows != null) rows += sample.rows - Math.max(largest.estimatedRows, 0);
  return {
    tables,
    unkeyed,
    rows,
    rowsPerSecond: sample?.rate ?? null,
    fixedMs: 2 * planMs + (2 + Math.ceil(compared.length / 2)) * connectMs,
  };
}

/**
 * The sequences the switchover carries over: each one's value on the old primary, whether the
 * new one has it, and what steep's role may do with them on each node. A value the role may not
 * read is left unread: the preflight names its GRANT.
 */
async function sequenceFacts(
  old: pg.Client,
  neu: pg.Client,
  d: SubscriptionSpec,
  tables: TableName[],
  only: SwitchoverOptions['sequences'],
): Promise<Pick<SwitchoverFacts, 'sequences' | 'sequenceAccess'>> {
  const seqs = await publishedSequences(old, tables, { only });
  const [source, target] = await Promise.all([
    readSequencePrivileges(old, seqs),
    readSequencePrivileges(neu, seqs),
  ]);
  const sources = await readSequenceStates(
    old,
    seqs.filter((s) => source.sequences.get(`${s.schema}.${s.name}`)?.select),
  );
  return {
    sequences: seqs.map((s) => {
      const key = `${s.schema}.${s.name}`;
      return {
        sequence: displayTable(s),
        schema: s.schema,
        name: s.name,
        source: sources.get(key)?.last ?? null,
        present: target.sequences.has(key),
      };
    }),
    sequenceAccess: { source: { node: d.from, ...source }, target: { node: d.node, ...target } },
  };
}

function verifyList(d: SubscriptionSpec, wanted: string[], carried: string[]): string[] {
  const names = wanted.map((w) => qualifiedName(tableOfQualified(w)));
  const unknown = names.filter((n) => !carried.includes(n));
  if (unknown.length > 0)
    throw new SteepError(
      'switchover.unknown_table',
      `--verify names ${unknown.join(', ')}, which subscription ${d.name} does not carry (it carries ${carried.join(', ') || 'no table'})`,
      { address: subscriptionAddress(d.name) },
    );
  return names;
}

/**
 * `--wait-prepared`: wait up to that long for the old primary's prepared transactions to end
 * (committed or rolled back by the application); returns those still open (preflight names them).
 */
async function waitPrepared(
  old: pg.Client,
  d: SubscriptionSpec,
  prepared: NonNullable<SwitchoverFacts['prepared']>,
  opts: SwitchoverRunOptions,
): Promise<NonNullable<SwitchoverFacts['prepared']>> {
  opts.onEvent({
    event: 'switchover.prepared_wait',
    level: 'info',
    subscription: d.name,
    message: `${prepared.length} prepared transaction(s) open on ${d.from} (${prepared.map((p) => p.gid).join(', ')}): waiting up to --wait-prepared ${(opts.waitPreparedMs ?? 0) / 1000}s for them to end`,
  });
  const started = Date.now();
  const ceiling = opts.waitPreparedMs ?? 0;
  let said = started;
  let open = prepared;
  while (open.length > 0 && Date.now() < started + ceiling && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 100));
    open = await readPreparedXacts(old);
    if (open.length > 0 && Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      opts.onEvent({
        event: 'switchover.waiting',
        level: 'info',
        subscription: d.name,
        message: `waiting for ${open.length} prepared transaction(s) on ${d.from} to end (${open.map((p) => p.gid).join(', ')}; ${waitedText(started, said, ceiling)}, --wait-prepared)`,
      });
    }
  }
  return open;
}

/** Bytes per second the slot confirmed over half a second (null when it confirmed nothing). */
async function measureApplyRate(old: pg.Client, slot: string): Promise<number | null> {
  const a = await readSlotPosition(old, slot);
  const t = Date.now();
  await new Promise((r) => setTimeout(r, 500));
  const b = await readSlotPosition(old, slot);
  if (!a?.confirmed || !b?.confirmed) return null;
  const bytes = Number(lsnValue(b.confirmed) - lsnValue(a.confirmed));
  return bytes > 0 ? (bytes * 1000) / (Date.now() - t) : null;
}

/** How long the slot takes to confirm the WAL flushed now (at most 2 s; null when it did not). */
async function measureDrain(old: pg.Client, slot: string): Promise<number | null> {
  const target = lsnValue(await readFlushLsn(old));
  const t = Date.now();
  while (Date.now() - t < 2000) {
    const s = await readSlotPosition(old, slot);
    if (s?.confirmed && lsnValue(s.confirmed) >= target) return Date.now() - t;
    await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}

const SAMPLE_ROWS = 20_000;

/**
 * Rows per second the old primary hashes of a sample of `table` (null: empty), and its row
 * count when the sample read all of it (a table never analyzed has no estimate).
 */
async function hashRate(old: pg.Client, quotedTable: string) {
  const t = process.hrtime.bigint();
  const n = await hashSample(old, quotedTable, SAMPLE_ROWS);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  return n > 0 ? { rate: (n * 1000) / Math.max(ms, 0.1), rows: n < SAMPLE_ROWS ? n : null } : null;
}

/** How long opening a session to `node` takes (ms), as the verify step opens its own. */
async function connectTime(topology: Topology, node: string): Promise<number> {
  const t = Date.now();
  return withSession(openSession(topology, node, 'plain', APPLICATION_NAME), async () => Date.now() - t);
}

/** One statement's round trip on the node (ms). */
async function roundTrip(client: pg.Client): Promise<number> {
  const t = process.hrtime.bigint();
  await serverNow(client);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** The setval statements the sequences step would run with today's values (the dry run shows them). */
async function sequencePreview(
  clients: NodeClients,
  d: SubscriptionSpec,
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
): Promise<string[]> {
  const seqs = facts.sequences.filter((s) => s.present);
  const targets = await readSequenceStates(clients.get(d.node)!, seqs);
  return seqs.flatMap(
    (s) =>
      decideSequence({ ...s, last: s.source }, targets.get(`${s.schema}.${s.name}`), {
        headroom: opts.sequenceHeadroom,
        allowBackwards: false,
        publisher: d.from,
        subscriber: d.node,
      }).sql ?? [],
  );
}
