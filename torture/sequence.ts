import type { PgMajor } from '../src/sandbox/binaries.js';
import { CATALOG, initialApply, type Operation, OperationFailed } from './operations.js';
import { oracle } from './oracle.js';
import { seeded } from './random.js';
import { type InitMethod, startWorld } from './world.js';

export interface SequenceResult {
  seed: string;
  version: PgMajor;
  /** what each operation did */
  ops: string[];
  /** where steep and the oracle disagree, or steep answered otherwise than documented */
  disagreements: string[];
  /** every steep call and its exit code, for the report of a failure */
  log: string[];
}

/** The operations and init method a seed draws for a version: 3–6 after the first apply. */
export function draw(seed: string, version: PgMajor): { method: InitMethod; ops: Operation[] } {
  const rnd = seeded(`${seed}/plan`);
  const method = rnd.pick(['snapshot', 'own-copy', 'two-phase'] as const);
  const usable = CATALOG.filter((op) => op.runsOn?.(version) ?? true);
  const ops: Operation[] = [];
  for (let n = rnd.int(3, 6); ops.length < n; ) {
    const op = rnd.pick(usable);
    // a failover uses the standby up: one per sequence
    if (!(op.standby && ops.some((o) => o.standby))) ops.push(op);
  }
  return { method, ops };
}

/** How to run this seed again. */
export function replayCommand(seed: string, version: PgMajor): string {
  return `TORTURE_SEED=${seed} STEEP_TEST_PG=${version} npm run torture`;
}

/**
 * One seeded sequence: a fresh world, the first apply, 3–6 operations with the application
 * writing throughout, the oracle after each. Stops at the first disagreement.
 */
export async function runSequence(seed: string, version: PgMajor): Promise<SequenceResult> {
  const { method, ops } = draw(seed, version);
  const world = await startWorld(version, method, ops.find((op) => op.standby)?.standby ?? null);
  const rnd = seeded(`${seed}/run`);
  const result: SequenceResult = { seed, version, ops: [], disagreements: [], log: world.log };
  try {
    world.startWriters();
    const queue = [initialApply, ...ops];
    for (let op = queue.shift(); op; op = queue.shift()) {
      world.say(`== ${op.name}`);
      try {
        result.ops.push(await op.run(world, rnd));
      } catch (err) {
        if (!(err instanceof OperationFailed)) throw err;
        result.ops.push(`${op.name}: failed`);
        result.disagreements.push(`${op.name}: ${err.message}`);
        break;
      }
      const found = await oracle(world);
      if (found.length > 0) {
        result.disagreements.push(...found.map((f) => `after ${op!.name}: ${f}`));
        break;
      }
      if (world.followUp) queue.unshift(world.followUp);
      world.followUp = null;
    }
  } finally {
    await world.stopWriters().catch(() => {});
    await world.cluster.stop();
  }
  return result;
}

/** The report of a sequence that found something: the seed, the replay command, what happened. */
export function describeFailure(r: SequenceResult): string {
  return [
    `torture seed ${r.seed} on PostgreSQL ${r.version}: ${r.disagreements.length} disagreement(s)`,
    `replay: ${replayCommand(r.seed, r.version)}`,
    `operations: ${r.ops.join(' → ')}`,
    ...r.disagreements,
    '--- log',
    ...r.log,
  ].join('\n');
}
