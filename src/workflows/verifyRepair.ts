import { loadTopology } from '../config/load.js';
import { ADVICE } from '../model/advice.js';
import { SteepError } from '../model/errors.js';
import { declaredSubscription } from '../model/topology.js';
import { lossText, repairLosses, type VerifyReport } from '../model/verify.js';
import { type ReinitOptions, reinitLoaded } from './reinit.js';
import { type VerifyOptions, verifyLoaded } from './verify.js';

/**
 * `steep verify` and `verify --repair`: verify; with `repair` and diverged tables, reinit
 * exactly those, then verify again. A repair that deletes or overwrites subscriber rows (extra or
 * different ones) is a destroy, as apply's drops are: it runs with `allowDestroy`, or once
 * `confirm` (the terminal's prompt, with the counts) says yes; without either nothing is changed.
 */
export async function repairSubscription(
  configPath: string,
  subscription: string,
  opts: VerifyOptions & {
    repair: boolean;
    reinit?: Omit<ReinitOptions, 'onEvent'>;
    /** `--allow-destroy` */
    allowDestroy?: boolean;
    /** asked before a repair that destroys rows; throws (with `refusal`'s text without a terminal) to refuse */
    confirm?: (question: string, refusal: string) => Promise<void>;
  },
) {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  const before = await verifyLoaded(topology, d, opts);
  before.durationMs = Date.now() - t0;
  const diverged = before.tables.filter((t) => t.status === 'diverged').map((t) => t.table);
  if (!opts.repair || diverged.length === 0)
    return { before, reinit: null, after: null, configWarnings: warnings };
  // tables replicated both ways are reconciled (planner/init/reinitLoop.ts): rows on one side only are kept
  const looped = Object.values(topology.subscriptions).some((s) => s.node === d.from && s.from === d.node);
  await gateRepair(before, diverged, looped, opts);
  const reinit = await reinitLoaded(
    topology,
    d,
    { tables: diverged },
    { ...opts.reinit, onEvent: opts.onEvent },
  );
  const after = await verifyLoaded(topology, d, opts);
  return { before, reinit, after, configWarnings: warnings };
}

/** Rows the repair would delete or overwrite: allowed by the flag, or asked; else refused with the counts. */
async function gateRepair(
  r: VerifyReport,
  diverged: string[],
  looped: boolean,
  opts: { allowDestroy?: boolean; confirm?: (question: string, refusal: string) => Promise<void> },
): Promise<void> {
  const { extra, different } = repairLosses(r);
  if ((looped ? 0 : extra) + different === 0 || opts.allowDestroy) return;
  const what =
    (looped
      ? `verify --repair of ${r.subscription} reconciles ${diverged.join(', ')} between ${r.node} and ${r.from}: ${different} different row(s) take the other side's values where the merge prefers it`
      : `verify --repair of ${r.subscription} replaces ${r.node}'s rows of ${diverged.join(', ')} with ${r.from}'s: ${lossText(r)}`) +
    (r.onlyCopy ? ` (${r.onlyCopy})` : '');
  const refusal = `${what}; nothing was changed — rerun with ${ADVICE.verifyRepair.gate} to allow it`;
  if (!opts.confirm) throw new SteepError('verify.destroy_refused', refusal);
  await opts.confirm(`${what}. Repair?`, refusal);
}
