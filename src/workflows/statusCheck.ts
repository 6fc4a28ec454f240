import { subscriptionAddress } from '../model/address.js';
import { parseBytes } from '../model/bytes.js';
import { parseDuration } from '../model/durations.js';
import { SteepError } from '../model/errors.js';
import { cannotFinishText } from '../model/initFailure.js';
import { type LagLimit, lagVerdict } from '../model/lagVerdict.js';
import type { StatusCheck, StatusReport, SubscriptionStatus } from '../model/statusReport.js';
import type { Topology } from '../model/topology.js';
import { conflictsSince, conflictsSinceText } from '../model/verifyRecord.js';

export type { LagLimit } from '../model/lagVerdict.js';

/** `--max-lag`: a size (`64MB`, bytes when plain) or a duration (`30s`, `5min`). */
export function parseMaxLag(text: string): LagLimit {
  // 0 bytes is no limit to wait for: refused below, as every size ends in a digit or a B
  const bytes = parseBytes(text);
  if (bytes) return { bytes };
  const ms = /[a-z]\s*$/.test(text) ? parseDuration(text) : undefined;
  if (ms !== undefined && ms > 0) return { seconds: ms / 1000 };
  throw new SteepError(
    'status.max_lag',
    `--max-lag ${text} is neither a size (e.g. 64MB, 1GB, or bytes) nor a duration (e.g. 30s, 5min)`,
  );
}

/** The verdict's evidence after `: `, when it has some to give. */
function because(s: SubscriptionStatus, from = 0): string {
  const reasons = s.verdict?.reasons.slice(from) ?? [];
  return reasons.length > 0 ? `: ${reasons.join('; ')}` : '';
}

/**
 * `status --check`, for cron and monitors: every subscription steep.yaml declares must exist,
 * be enabled (unless the file says `enabled: false`), be synchronized as model/syncVerdict.ts
 * proves it (every table ready, the apply worker running, no error since steep's last reading;
 * with a verify window, every table found equal within it: `unverified` names those that were
 * not) and within `maxLag`; no slot may be `lost` or `unreserved`; every node must be readable. What
 * steep cannot prove either way is unknown, with the reason: never healthy.
 */
export function checkStatus(r: StatusReport, topology: Topology, maxLag?: LagLimit): StatusCheck {
  const problems: string[] = [];
  let unknown = false;
  let unhealthy = false;
  const bad = (p: string) => {
    unhealthy = true;
    problems.push(p);
  };
  const unsure = (p: string) => {
    unknown = true;
    problems.push(p);
  };
  for (const n of r.nodes) if (!n.reachable) unsure(`node ${n.name} cannot be read: ${n.error}`);
  for (const s of r.subscriptions.filter((x) => x.declared)) {
    const at = `${subscriptionAddress(s.name)} on ${s.node}`;
    if (s.state === 'unknown') {
      unsure(`${at}: unknown, ${s.unknown}`);
      continue;
    }
    if (!s.exists) {
      bad(`${at}: not created`);
      continue;
    }
    const before = problems.length;
    const disabledByFile = topology.subscriptions[s.name]?.enabled === false;
    if (s.state === 'stopped') {
      // disabled: the file may say so; a slot gone from the publisher is a problem either way
      if (!disabledByFile) bad(`${at}: disabled${because(s, 1)}`);
      else if ((s.verdict?.reasons.length ?? 0) > 1) bad(`${at}${because(s, 1)}`);
    } else if (s.enabled === false && !disabledByFile) bad(`${at}: disabled`);
    if (s.state === 'failed') bad(`${at}: init failed${s.error ? `: ${s.error}` : ''}`);
    else if (s.state === 'failing') bad(`${at}: failing, not synchronized${because(s)}`);
    else if (s.state === 'synchronized' && s.tablesReady < s.tablesTotal)
      // tables joined a synchronized subscription and PostgreSQL still copies them
      bad(`${at}: tables ${s.tablesReady}/${s.tablesTotal} ready, not synchronized`);
    else if (s.state !== 'synchronized' && s.state !== 'stopped')
      bad(
        `${at}: ${s.state}, not synchronized` +
          (s.lostSyncSlots.length > 0
            ? `, and ${cannotFinishText(s.lostSyncSlots, s.from)} (steep status says what ends it)`
            : s.verdict?.verdict === 'failing' || s.verdict?.verdict === 'gap' || s.state === 'unverified'
              ? because(s)
              : ''),
      );
    if (s.unfinishedReinit) bad(`${at}: ${s.unfinishedReinit}`);
    if (s.leftFence) bad(`${at}: ${s.leftFence}`);
    // PostgreSQL 18: conflicts since the last verify may have left rows apart (a same-key update
    // on both nodes of a link, a row missing on the subscriber); a verify confirms or clears them
    const conflicts = conflictsSince(s);
    if (conflicts) bad(`${at}: ${conflictsSinceText(conflicts)}`);
    if (maxLag) {
      const lag = lagVerdict(maxLag, { ...s, unreadable: s.unknown });
      if (lag.verdict === 'over') bad(`${at}: ${lag.reason}`);
      // a lag steep cannot read leaves a healthy-looking subscription unproven; one already unhealthy stays so
      else if (lag.verdict === 'unknown' && problems.length === before) unsure(`${at}: ${lag.reason}`);
    }
    if (s.state === 'diverged' && s.error) bad(`${at}: ${s.error}`);
    // a failover steep cannot prove skipped nothing is no healthy one
    if (s.lastFailover?.verdict === 'unknown')
      bad(
        `${at}: the last failover of ${s.from} may have skipped changes: ${s.lastFailover.reasons.join('; ')}`,
      );
    if (s.failover?.verdict === 'not-ready')
      bad(`${at}: not ready for a failover of ${s.from}: ${s.failover.reasons.join('; ')}`);
  }
  for (const s of r.slots) {
    if (s.walStatus === 'lost' || s.walStatus === 'unreserved')
      bad(`slot ${s.node}/${s.name}: wal_status ${s.walStatus}`);
  }
  return { unknown, unhealthy, problems };
}

/**
 * The exit code of `status` (docs/status.md): 1 when a node cannot be read; with
 * `--check`, 2 when a problem is proven, else 1 when something is unknown, else 0.
 */
export function statusExitCode(r: StatusReport, check: StatusCheck | undefined): number {
  if (r.nodes.some((n) => !n.reachable)) return 1;
  if (!check) return 0;
  return check.unhealthy ? 2 : check.unknown ? 1 : 0;
}
