import { loadTopology } from '../config/load.js';
import { type ApplyResult, applySnapshot } from '../copy/snapshotApply.js';
import { deleteSnapshot } from '../copy/snapshotDelete.js';
import { type GenerateResult, generateSnapshot } from '../copy/snapshotGenerate.js';
import { listSnapshots, type SnapshotListing } from '../copy/snapshotListing.js';
import { twoPhaseSubscription } from '../copy/twoPhase.js';
import type { EventSink, Stop } from '../executors/events.js';
import type { Problem } from '../model/errors.js';
import { requireEvidence } from './initEvidence.js';

/**
 * `steep snapshot generate | apply | list | delete` (docs/commands.md, docs/steep-yaml.md): load steep.yaml and run the
 * two-phase step; the copy engine does the work.
 */

export async function snapshotGenerate(
  configPath: string,
  subscription: string,
  opts: { dir: string; compress?: 'gzip' | 'none'; parallel?: number; onEvent: EventSink; stop?: Stop },
): Promise<GenerateResult & { configWarnings: Problem[] }> {
  const { topology, warnings } = await loadTopology(configPath);
  const d = twoPhaseSubscription(topology, subscription);
  return { ...(await generateSnapshot(topology, d, opts)), configWarnings: warnings };
}

export async function snapshotApply(
  configPath: string,
  subscription: string,
  opts: { dir: string; parallel?: number; wait: boolean; onEvent: EventSink },
): Promise<ApplyResult & { configWarnings: Problem[] }> {
  const { topology, warnings } = await loadTopology(configPath);
  const d = twoPhaseSubscription(topology, subscription);
  const applied = await applySnapshot(topology, d, opts);
  // a two-phase init ends with evidence too, once followed to synchronized
  if (applied.state === 'synchronized')
    await requireEvidence(topology, d, {
      parallel: opts.parallel ?? d.init.parallel,
      onEvent: opts.onEvent,
      fields: {},
      what: `the two-phase init of ${d.name}`,
    });
  return { ...applied, configWarnings: warnings };
}

/** The snapshots in `dir` (when given) and those the subscribers' state records. */
export async function snapshotList(configPath: string, dir: string | null): Promise<SnapshotListing[]> {
  const { topology } = await loadTopology(configPath);
  return listSnapshots(topology, dir);
}

/** `target`: a snapshot directory, or an id `snapshot list` shows (its files gone). */
export async function snapshotDelete(configPath: string, target: string, allowDestroy: boolean) {
  const { topology } = await loadTopology(configPath);
  return deleteSnapshot(topology, target, allowDestroy);
}
