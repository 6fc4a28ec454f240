import type { PgMajor } from '../src/sandbox/binaries.js';
import { CATALOG, initialApply, OPEN_OPERATIONS, type Operation, OperationFailed } from './operations.js';
import { oracle } from './oracle.js';
import { seeded } from './random.js';
import { type InitMethod, startWorld } from './world.js';

export interface SequenceResult {
  seed: string;
  version: PgMajor;
  /** what the draw was asked (TORTURE_OPEN, TORTURE_OPS) */
  opts: { open?: boolean; names?: string[] };
  /** what each operation did */
  ops: string[];
  /** where steep and the oracle disagree, or steep answered otherwise than documented */
  disagreements: string[];
  /** every steep call and its exit code, for the report of a failure */
  log: string[];
}

/** The operations a seed may draw on `version`: the catalog's, the open ones only when asked. */
export function drawable(version: PgMajor, open = false): Operation[] {
  return CATALOG.filter((op) => (op.runsOn?.(version) ?? true) && (open || !(op.name in OPEN_OPERATIONS)));
}

/**
 * The operations and init method a seed draws for a version: 3–6 after the first apply, from
 * the catalog less its open operations (`open`: with them). `names` fixes the operations (the
 * seed still draws the init method): TORTURE_OPS=a,b.
 */
export function draw(
  seed: string,
  version: PgMajor,
  opts: { open?: boolean; names?: string[] } = {},
): { method: InitMethod; ops: Operation[] } {
  const rnd = seeded(`${seed}/plan`);
  const method = rnd.pick(['snapshot', 'own-copy', 'two-phase'] as const);
  if (opts.names) {
    const ops = opts.names.map((n) => {
      const op = CATALOG.find((o) => o.name === n);
      if (!op) throw new Error(`TORTURE_OPS: no operation ${n} (${CATALOG.map((o) => o.name).join(', ')})`);
      return op;
    });
    return { method, ops };
  }
  const usable = drawable(version, opts.open);
  const ops: Operation[] = [];
  for (let n = rnd.int(3, 6); ops.length < n; ) {
    const op = rnd.pick(usable);
    // a failover uses the standby up: one per sequence; one switchover per sequence (a second
    // one after the rollback is the operation switchover-after-rollback)
    const once = (o: Operation) => Boolean(o.standby) || o.name.startsWith('switchover');
    if (!(once(op) && ops.some((o) => once(o) && (o.standby ? op.standby : !op.standby)))) ops.push(op);
  }
  return { method, ops };
}

/** What TORTURE_OPEN and TORTURE_OPS ask of the draw. */
export function drawOptions(env = process.env): { open?: boolean; names?: string[] } {
  return {
    open: env.TORTURE_OPEN === '1',
    names: env.TORTURE_OPS ? env.TORTURE_OPS.split(',').map((n) => n.trim()) : undefined,
  };
}

/** How to run this seed again. */
export function replayCommand(
  seed: string,
  version: PgMajor,
  opts: { open?: boolean; names?: string[] } = {},
): string {
  const extra = `${opts.open ? 'TORTURE_OPEN=1 ' : ''}${opts.names ? `TORTURE_OPS=${opts.names.join(',')} ` : ''}`;
  return `${extra}TORTURE_SEED=${seed} STEEP_TEST_PG=${version} npm run torture`;
}

/**
 * One seeded sequence: a fresh world, the first apply, 3–6 operations with the application
 * writing throughout, the oracle after each. Stops at the first disagreement.
 */
export async function runSequence(
  seed: string,
  version: PgMajor,
  opts: { open?: boolean; names?: string[] } = {},
): Promise<SequenceResult> {
  const { method, ops } = draw(seed, version, opts);
  const world = await startWorld(version, method, ops.find((op) => op.standby)?.standby ?? null);
  const rnd = seeded(`${seed}/run`);
  const result: SequenceResult = { seed, version, opts, ops: [], disagreements: [], log: world.log };
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
    `replay: ${replayCommand(r.seed, r.version, r.opts)}`,
    `operations: ${r.ops.join(' → ')}`,
    ...r.disagreements,
    '--- log',
    ...r.log,
  ].join('\n');
}
