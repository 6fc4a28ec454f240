import type { MetricsSample } from '../model/metrics.js';
import { AFTER_FAILOVER } from '../model/plan.js';
import type { StatusReport } from '../model/statusReport.js';
import { STATUS_STATES } from '../model/statusWords.js';

/**
 * A status (and, from `steep metrics`, drift) sample in Prometheus' text exposition format
 * (0.0.4): what node_exporter's textfile collector reads and what `steep metrics` serves.
 * OpenMetrics 1.0 names a counter's family without `_total`, which `promtool check metrics`
 * rejects, so the counters carry `_total` in their HELP and TYPE lines too.
 *
 * Every series carries `topology`; a subscription's its `subscription`, `node` (the
 * subscriber) and `from`. A figure steep could not read (a node down) is left out, never 0:
 * `steep_node_up` says why. States are state sets: one series per state, 1 for the current.
 */

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  samples: Array<{ labels: Labels; value: number }>;
}

/** Label values escaped as the format asks: backslash, double quote, newline. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function line(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
  // the format's infinities: a table never compared is infinitely long ago (tableSeries)
  const text = Number.isFinite(value)
    ? String(value)
    : value === Infinity
      ? '+Inf'
      : value === -Infinity
        ? '-Inf'
        : 'NaN';
  return `${name}{${pairs.join(',')}} ${text}`;
}

/** The WAL states pg_replication_slots.wal_status takes (13+). */
const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost'] as const;

/** Declares a family (in the order the output lists them) and returns where its samples go. */
type NewFamily = (name: string, help: string) => Family['samples'];

export function renderPrometheus(m: MetricsSample): string {
  const t = { topology: m.status.topology };
  const families: Family[] = [];
  const family: NewFamily = (name, help) => {
    const f: Family = { name, help, samples: [] };
    families.push(f);
    return f.samples;
  };
  nodeSeries(family, m.status, t);
  subscriptionSeries(family, m.status, t);
  tableSeries(family, m.status, t);
  slotSeries(family, m.status, t);
  sampleSeries(family, m, t);
  return exposition(families);
}

function nodeSeries(family: NewFamily, status: StatusReport, t: Labels): void {
  const up = family('steep_node_up', 'Whether steep could read the node (1) or not (0).');
  const version = family('steep_node_server_version', "The node's server_version_num.");
  for (const n of status.nodes) {
    up.push({ labels: { ...t, node: n.name }, value: n.reachable ? 1 : 0 });
    if (n.serverVersion !== null) version.push({ labels: { ...t, node: n.name }, value: n.serverVersion });
  }
}

function subscriptionSeries(family: NewFamily, status: StatusReport, t: Labels): void {
  const state = family(
    'steep_subscription_state',
    "The subscription's init state: 1 for the state it is in, 0 for the others (unknown: its node could not be read).",
  );
  const exists = family('steep_subscription_exists', 'Whether the subscription exists on its node.');
  const enabled = family('steep_subscription_enabled', 'Whether the subscription is enabled.');
  const lagBytes = family(
    'steep_subscription_lag_bytes',
    "Bytes of WAL the subscription's slot has not confirmed.",
  );
  const beyondWal = family(
    'steep_subscription_slot_beyond_wal_bytes',
    "Bytes by which the subscription's slot confirms a position beyond its publisher's own WAL (a subscriber that applied changes the publisher never had, e.g. after a failover); absent: not beyond.",
  );
  const lagSeconds = family(
    'steep_subscription_lag_seconds',
    "0 when the subscription's slot has confirmed all its publisher's WAL, else PostgreSQL's replay_lag of the walsender streaming from it; absent: not known (docs/metrics.md).",
  );
  const applyErrors = family(
    'steep_subscription_apply_errors_total',
    'Errors of the apply worker since the statistics were reset (PostgreSQL 15+).',
  );
  const syncErrors = family(
    'steep_subscription_sync_errors_total',
    'Errors of the table-sync workers since the statistics were reset (PostgreSQL 15+).',
  );
  const conflicts = family(
    'steep_subscription_conflicts_total',
    'Conflicts the subscriber met applying changes, by type (PostgreSQL 18+).',
  );
  const tables = family('steep_subscription_tables', 'Tables the subscription receives.');
  const notReady = family(
    'steep_subscription_tables_not_ready',
    'Tables of the subscription not yet ready (still copying or catching up).',
  );
  const diverged = family(
    'steep_subscription_diverged_tables',
    'Tables the last steep verify found different.',
  );
  const lastVerify = family(
    'steep_subscription_last_verify_timestamp_seconds',
    'When steep verify last compared every table of the subscription (Unix time); absent: never.',
  );
  const conflictsSince = family(
    'steep_subscription_conflicts_since_verify',
    'Conflicts since the last steep verify began (or ever, never verified), by type: rows that may differ until a verify (PostgreSQL 18+).',
  );
  const failoverReady = family(
    'steep_subscription_failover_ready',
    'Whether a failover of its publisher now would skip nothing (1: every piece of slot synchronisation in place, read now), else 0; absent: its publisher declares no standbys, or the last failover diverged.',
  );
  const lastFailover = family(
    'steep_subscription_last_failover',
    'The verdict on the last failover of its publisher, as read now: 1 for it (resumed, diverged, unknown), 0 for the others; absent: none since the last reinit --full or verify.',
  );
  for (const s of status.subscriptions) {
    const labels = { ...t, subscription: s.name, node: s.node, from: s.from };
    if (s.failover) failoverReady.push({ labels, value: s.failover.verdict === 'ready' ? 1 : 0 });
    if (s.lastFailover)
      for (const v of AFTER_FAILOVER)
        lastFailover.push({ labels: { ...labels, verdict: v }, value: s.lastFailover.verdict === v ? 1 : 0 });
    // the current state always has its series, one status reports beyond this list too
    for (const st of new Set<string>([...STATUS_STATES, s.state]))
      state.push({ labels: { ...labels, state: st }, value: s.state === st ? 1 : 0 });
    if (s.exists !== null) exists.push({ labels, value: s.exists ? 1 : 0 });
    if (s.enabled !== null) enabled.push({ labels, value: s.enabled ? 1 : 0 });
    // a position beyond the publisher's WAL is no lag: its own series
    if (s.lagBytes !== null && s.lagBytes >= 0) lagBytes.push({ labels, value: s.lagBytes });
    if (s.lagBytes !== null && s.lagBytes < 0) beyondWal.push({ labels, value: -s.lagBytes });
    if (s.lagSeconds !== null) lagSeconds.push({ labels, value: s.lagSeconds });
    if (s.applyErrors !== null) applyErrors.push({ labels, value: s.applyErrors });
    if (s.syncErrors !== null) syncErrors.push({ labels, value: s.syncErrors });
    for (const [type, n] of Object.entries(s.conflicts ?? {}))
      conflicts.push({ labels: { ...labels, type }, value: n });
    if (s.lastVerify) lastVerify.push({ labels, value: Date.parse(s.lastVerify.at) / 1000 });
    // every type the server counts, 0 when it did not rise: an alert compares a series that exists
    if (s.conflicts)
      for (const type of Object.keys(s.conflicts))
        conflictsSince.push({ labels: { ...labels, type }, value: s.conflictsSinceVerify?.[type] ?? 0 });
    if (s.exists) {
      tables.push({ labels, value: s.tablesTotal });
      notReady.push({ labels, value: s.tablesTotal - s.tablesReady });
      diverged.push({ labels, value: s.divergedTables.length });
    }
  }
}

/**
 * Each table's time since it was last found equal as a whole (model/verifyWindow.ts), whatever
 * its subscription's window: +Inf for a table never compared, so an alert's `>` fires on it too.
 */
function tableSeries(family: NewFamily, status: StatusReport, t: Labels): void {
  const age = family(
    'steep_table_verified_age_seconds',
    'Seconds since a steep verify (or every segment of a verify --rolling) last found the table equal; +Inf: never.',
  );
  const now = Date.parse(status.sampledAt);
  for (const s of status.subscriptions)
    for (const v of s.verifiedTables ?? [])
      age.push({
        labels: { ...t, subscription: s.name, node: s.node, from: s.from, table: v.table },
        value: v.at === null ? Infinity : Math.max(0, (now - Date.parse(v.at)) / 1000),
      });
}

function slotSeries(family: NewFamily, status: StatusReport, t: Labels): void {
  const retained = family(
    'steep_slot_retained_wal_bytes',
    'WAL the replication slot keeps on its node, in bytes.',
  );
  const walStatus = family(
    'steep_slot_wal_status',
    "The slot's wal_status: 1 for its status, 0 for the others.",
  );
  const active = family('steep_slot_active', 'Whether a process streams from the slot.');
  for (const s of status.slots) {
    const labels = { ...t, node: s.node, slot: s.name, kind: s.kind };
    if (s.retainedWalBytes !== null) retained.push({ labels, value: s.retainedWalBytes });
    if (s.walStatus !== null)
      for (const w of WAL_STATUSES)
        walStatus.push({ labels: { ...labels, wal_status: w }, value: s.walStatus === w ? 1 : 0 });
    active.push({ labels, value: s.active ? 1 : 0 });
  }
  const orphans = family(
    'steep_orphan_slots',
    "Logical slots steep made on the node that nothing uses (they retain WAL for nobody); another tool's are not counted.",
  );
  for (const n of status.nodes.filter((x) => x.reachable))
    orphans.push({
      labels: { ...t, node: n.name },
      value: status.slots.filter((s) => s.node === n.name && s.kind === 'orphan').length,
    });
}

/** What this sample is about as a whole: the drift `steep metrics` read, and the read itself. */
function sampleSeries(family: NewFamily, m: MetricsSample, t: Labels): void {
  const gauge = (name: string, help: string, value: number) => family(name, help).push({ labels: t, value });
  if (m.drift) {
    gauge('steep_drift_planned_changes', 'Steps steep apply would run now.', m.drift.plannedChanges);
    gauge('steep_drift', 'Whether steep drift finds drift (1) or not (0).', m.drift.drifted ? 1 : 0);
    gauge(
      'steep_drift_errors',
      'What kept steep drift from telling (an unreadable node, a failed preflight).',
      m.drift.errors,
    );
  }
  gauge(
    'steep_read_duration_seconds',
    'How long steep took to read the nodes for this sample.',
    m.readSeconds,
  );
  gauge(
    'steep_read_timestamp_seconds',
    'When steep read the nodes for this sample (Unix time).',
    Date.parse(m.status.sampledAt) / 1000,
  );
}

/** The families with samples, each under its HELP and TYPE lines. */
function exposition(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    // a counter's name ends in _total, a gauge's never does
    out.push(
      `# HELP ${f.name} ${f.help}`,
      `# TYPE ${f.name} ${f.name.endsWith('_total') ? 'counter' : 'gauge'}`,
    );
    for (const s of f.samples) out.push(line(f.name, s.labels, s.value));
  }
  return `${out.join('\n')}\n`;
}
