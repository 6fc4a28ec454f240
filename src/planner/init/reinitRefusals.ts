/**
 * Why `steep reinit` refuses a subscription before it reads or writes anything else
 * (docs/repair.md); what it refuses once the plan is read is in reinit.ts.
 */
import { DISCARD_PAST_FORK, onlyCopyReason } from '../../model/advice.js';
import { disabledOnErrorRefusal, divergedDisabledRefusal } from '../../model/disableOnError.js';
import { SteepError } from '../../model/errors.js';
import { restoredByUser } from '../../model/initMethods.js';
import type { InitState } from '../../model/initState.js';
import type { SubscriptionSpec } from '../../model/topology.js';
import { majorVersion, TWO_PHASE_ALTER_MIN_VERSION } from '../../model/versions.js';

export function refuse(message: string): never {
  throw new SteepError('reinit.refused', message);
}

/**
 * A subscription whose subscriber may be the primary is not reinitialised, checked before
 * anything is read or written: one steep.yaml disables, or one a switchover's release left
 * disabled without a slot (`released`: slot_name NONE, before the file says enabled: false). No
 * enable is advised: its rows may be the only copy.
 */
export function refuseRetired(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'from' | 'enabled'>,
  observedEnabled: boolean,
  released: boolean,
): void {
  if (observedEnabled || (d.enabled && !released)) return;
  const onlyCopy = onlyCopyReason({
    subscription: d.name,
    node: d.node,
    enabled: d.enabled,
    observedEnabled,
  });
  refuse(
    `${onlyCopy}: a reinit would empty its tables there and copy them from ${d.from}, so steep does not reinit a subscription ${d.enabled ? 'a switchover released (slot_name = NONE)' : 'steep.yaml disables'}; nothing was changed`,
  );
}

/**
 * A subscription with two_phase in force (`twoPhase: true`, its initial copy done) is not
 * reinitialised, checked before anything is written: PostgreSQL refuses the SET PUBLICATION …
 * WITH (copy_data = true) that brings its tables back to be copied ("not allowed when two_phase is
 * enabled"), and refused there, after the switch, it would leave the subscription on the temporary
 * publications with the tables emptied. Off, the reinit runs: 18 turns it off in place (apply, on
 * the disabled subscription), before 18 only a new subscription can.
 */
export function refuseTwoPhase(d: Pick<SubscriptionSpec, 'name' | 'node'>, version: number): never {
  const off =
    version >= TWO_PHASE_ALTER_MIN_VERSION
      ? 'steep apply turns it off in place'
      : `PostgreSQL ${majorVersion(version)} cannot turn it off in place, so steep apply replaces the subscription (its plan says how it fills the tables)`;
  refuse(
    `subscription ${d.name} on ${d.node} has two_phase on, and PostgreSQL refuses to copy its tables again while it is (ALTER SUBSCRIPTION … SET PUBLICATION … WITH (copy_data = true) is not allowed when two_phase is enabled): ` +
      `set options.twoPhase: false for ${d.name} in steep.yaml and run steep apply (${off}), then run this reinit again; nothing was changed`,
  );
}

/**
 * Any other disabled subscription is not reinitialised either (PostgreSQL refreshes only enabled
 * ones), checked before anything is written, the slot included: the file enables it and it has
 * its slot (refuseRetired), so apply enables it first; unless PostgreSQL disabled it at an error
 * (`byPostgres`, disable_on_error), which apply leaves alone: then its cause and the ENABLE, as
 * status and the switchover tell it; or a failover left it diverged (`diverged`: that verdict's
 * reasons), which apply does not enable either: the failover's way out and no ENABLE
 * (model/disableOnError.ts).
 */
export function refuseDisabled(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'from'>,
  observedEnabled: boolean,
  why: { byPostgres?: { errorsCounted: number | null }; diverged?: readonly string[] } = {},
): void {
  if (observedEnabled) return;
  const s = { subscription: d.name, node: d.node, from: d.from };
  const unchanged = 'nothing was changed';
  const { byPostgres, diverged } = why;
  if (byPostgres)
    refuse(
      disabledOnErrorRefusal(
        { ...s, errorsCounted: byPostgres.errorsCounted },
        diverged,
        `${diverged ? '' : 'then run reinit again (PostgreSQL refreshes only enabled subscriptions); '}${unchanged}`,
      ),
    );
  refuse(
    diverged
      ? divergedDisabledRefusal(s, diverged, unchanged)
      : `subscription ${d.name} on ${d.node} is disabled: PostgreSQL refreshes only enabled subscriptions; enable it (steep apply) and run reinit again; ${unchanged}`,
  );
}

/**
 * After a failover under which the subscriber may hold rows past the fork (`pastFork`: that
 * verdict's reasons, its keep-first way out among them), the only copy of writes of the old
 * primary: a full reinit deletes them only with --discard-past-fork (`discard`), the user's word
 * that what the subscriber must keep is on the publisher (--auto-approve, or STEEP_AUTO_APPROVE
 * in a script, never stands in for it); a reinit of some tables deletes them too and leaves the
 * failover's gap in the others, so only the full one is named.
 */
export function refusePastFork(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'from'>,
  pastFork: readonly string[] | undefined,
  full: boolean,
  discard: boolean,
): void {
  if (pastFork === undefined || (full && discard)) return;
  const what = full
    ? `reinit --full without ${DISCARD_PAST_FORK} deletes no rows ${d.node} may hold the only copy of`
    : `a reinit of some of its tables would delete such rows too and leave the failover's gap in the others`;
  refuse(
    `subscription ${d.name} on ${d.node} may hold rows past the fork of ${d.from}'s failover: ${pastFork.join('; ')}; ${what}; nothing was changed`,
  );
}

/**
 * A subscription whose connection names a host other than its publisher's (`connectsTo`: after a
 * failover, the old primary until steep apply re-points it to the node steep.yaml names): its
 * worker cannot copy or stream from `from`, so a reinit would wait on it (the copy, the catch-up)
 * forever; checked after the other refusals, before anything is written. steep apply sets the
 * connection (and leaves one a failover left diverged disabled), so it is named, never done here.
 */
export function refuseElsewhere(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'from'>,
  connectsTo: string | undefined,
): void {
  if (connectsTo === undefined) return;
  refuse(
    `subscription ${d.name} on ${d.node} connects to ${connectsTo}, not to ${d.from}: its worker cannot copy or stream from ${d.from}, so a reinit would wait on it; steep apply re-points it to ${d.from}, then run steep reinit again; nothing was changed`,
  );
}

/**
 * The publisher's url is a stale server (`stale`: planner/failover/staleNode.ts's sentence, which
 * names the new primary): a reinit would copy from an older branch; checked before anything is
 * written, so steep copies nothing from it.
 */
export function refuseStaleUrl(stale: string | undefined): void {
  if (stale === undefined) return;
  refuse(`${stale}; steep reinit copies nothing from it, and nothing was changed`);
}

/** The recorded states of an init not finished, whose step (not an ALTER of apply) enables the subscription. */
const UNFINISHED: readonly InitState[] = ['uninitialized', 'preparing', 'copying', 'catching_up'];

/**
 * A disabled subscription the file enables whose init is not finished (`recorded`): steep apply
 * does not enable it (its init step does, once it can: planner/init/init.ts), so what finishes
 * its init, by method (docs/init.md), is its way out; `what` names it, `finish` that way out.
 * Undefined for any other. Shared by reinit's refusal and the switchover's.
 */
export function unfinishedInit(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'enabled'> & { init: Pick<SubscriptionSpec['init'], 'method'> },
  observedEnabled: boolean,
  recorded: string | null | undefined,
): { what: string; finish: string } | undefined {
  if (observedEnabled || !d.enabled || !UNFINISHED.some((s) => s === recorded)) return undefined;
  const finish =
    d.init.method === 'two-phase'
      ? `steep snapshot apply ${d.name} --input DIR (the directory steep snapshot generate ${d.name} wrote) loads its snapshot and enables it`
      : restoredByUser(d.init.method)
        ? `steep init prepare ${d.name}, the restore it prints, then steep apply finish it (docs/init.md)`
        : `steep apply resumes its copy and enables it`;
  return {
    what: `subscription ${d.name} on ${d.node} is disabled and its ${d.init.method} init is ${recorded}, not finished`,
    finish,
  };
}

/**
 * A disabled subscription the file enables whose init is not finished (unfinishedInit), checked
 * before anything else: reinit repairs only an initialised one.
 */
export function refuseUnfinishedInit(
  d: Pick<SubscriptionSpec, 'name' | 'node' | 'enabled' | 'init'>,
  observedEnabled: boolean,
  recorded: InitState | undefined,
): void {
  const unfinished = unfinishedInit(d, observedEnabled, recorded);
  if (!unfinished) return;
  refuse(
    `${unfinished.what}: reinit repairs an initialised subscription, and steep apply does not enable this one before its init does; ${unfinished.finish}; nothing was changed`,
  );
}
