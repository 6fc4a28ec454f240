import { loadTopology } from '../config/load.js';
import { declaredSubscription } from '../model/topology.js';
import { type ReinitOptions, reinitLoaded } from './reinit.js';
import { type VerifyOptions, verifyLoaded } from './verify.js';

/**
 * `steep verify` and `verify --repair`: verify; with `repair` and diverged tables, reinit
 * exactly those, then verify again.
 */
export async function repairSubscription(
  configPath: string,
  subscription: string,
  opts: VerifyOptions & { repair: boolean; reinit?: Omit<ReinitOptions, 'onEvent'> },
) {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  const before = await verifyLoaded(topology, d, opts);
  before.durationMs = Date.now() - t0;
  const diverged = before.tables.filter((t) => t.status === 'diverged').map((t) => t.table);
  if (!opts.repair || diverged.length === 0)
    return { before, reinit: null, after: null, configWarnings: warnings };
  const reinit = await reinitLoaded(
    topology,
    d,
    { tables: diverged },
    { ...opts.reinit, onEvent: opts.onEvent },
  );
  const after = await verifyLoaded(topology, d, opts);
  return { before, reinit, after, configWarnings: warnings };
}
