import fc from 'fast-check';
import type { PgMajor } from '../src/sandbox/binaries.js';
import { FIRST_CHOICES, type Random } from './choices.js';
import {
  Disagreement,
  type DrawOptions,
  initialModel,
  type Referee,
  type Sequence,
  sequenceArbitrary,
  type TortureModel,
} from './commands.js';
import { initialApply, type Operation, OperationFailed } from './operations.js';
import { oracle } from './oracle.js';
import { type InitMethod, startWorld, type World } from './world.js';

export interface SequenceResult {
  version: number;
  method: InitMethod;
  /** what each operation did */
  ops: string[];
  /** where steep and the oracle disagree, or steep answered otherwise than documented */
  disagreements: string[];
  /** every steep call and its exit code, for the report of a failure */
  log: string[];
}

/** A referee with its sequence's result, stopped (servers down) once the sequence ends. */
export interface Arena extends Referee {
  result: SequenceResult;
  stop: () => Promise<void>;
}

/** Starts the arena a sequence runs in: the real one starts PostgreSQL (`startWorldArena`). */
export type StartArena = (
  version: number,
  method: InitMethod,
  standby: TortureModel['standby'],
) => Promise<Arena>;

/** How long the end of a sequence waits for the application's writes under way before its servers stop under them. */
export const WRITERS_STOP_MS = 10_000;

/** Whether `p` settles within `ms` (its rejection counts as settled). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((res) => {
    timer = setTimeout(() => res(false), ms);
  });
  const settled = p.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

/**
 * The real referee: performs an operation through the CLI in a world of real servers, then the
 * oracle; then the follow-up the operation requires (a switchover's rollback, a failover's
 * repair) and the oracle again. A disagreement is recorded and thrown: the sequence stops there.
 */
class WorldReferee implements Arena {
  readonly result: SequenceResult;
  constructor(
    readonly world: World,
    private readonly writersStopMs = WRITERS_STOP_MS,
  ) {
    this.result = {
      version: world.version,
      method: world.file.method,
      ops: [],
      disagreements: [],
      log: world.log,
    };
  }

  async perform(op: Operation, rnd: Random): Promise<void> {
    for (let next: Operation | null = op; next; ) {
      const current: Operation = next;
      this.world.say(`== ${current.name}`);
      try {
        this.result.ops.push(await current.run(this.world, rnd));
      } catch (err) {
        if (!(err instanceof OperationFailed)) throw err;
        this.result.ops.push(`${current.name}: failed`);
        this.fail([`${current.name}: ${err.message}`]);
      }
      const found = await oracle(this.world);
      if (found.length > 0) this.fail(found.map((f) => `after ${current.name}: ${f}`));
      next = this.world.followUp;
      this.world.followUp = null;
    }
  }

  private fail(found: string[]): never {
    this.result.disagreements.push(...found);
    throw new Disagreement(found.join('\n'));
  }

  /**
   * The servers down, however the sequence ended. The application stops first, but a write of it
   * may never return (a commit on pa waiting for a synchronous standby whose slot is lost: nightly
   * seed 180090 left its servers up until the run ended): past `writersStopMs` the servers stop
   * under it, which ends it.
   */
  async stop(): Promise<void> {
    const writers = this.world.stopWriters();
    const ended = await settlesWithin(writers, this.writersStopMs);
    if (!ended)
      this.world.say(
        `the application's writes did not end within ${this.writersStopMs} ms: servers stopped under them`,
      );
    await this.world.stop();
    if (!ended) await settlesWithin(writers, this.writersStopMs);
  }
}

/** The arena of a world already started: the application starts writing there. */
export function worldArena(world: World, writersStopMs = WRITERS_STOP_MS): Arena {
  world.startWriters();
  return new WorldReferee(world, writersStopMs);
}

/** The real arena: servers, and the application writing throughout. */
export const startWorldArena: StartArena = async (version, method, standby) =>
  worldArena(await startWorld(version as PgMajor, method, standby));

/** the arenas of sequences not ended yet: a test's ceiling abandons its sequence where it hangs */
const running = new Set<Arena>();

/**
 * Stops the arenas of sequences a test's ceiling abandoned (after each test of the harness: their
 * servers would run until the process ends); how many.
 */
export async function stopAbandoned(): Promise<number> {
  const left = [...running];
  running.clear();
  await Promise.all(left.map((a) => a.stop().catch(() => {})));
  return left.length;
}

/**
 * One sequence: a fresh arena (the real one: servers, the application writing throughout), the
 * first apply with the sequence's init method and the oracle, then fast-check runs the commands
 * the model allows (`fc.asyncModelRun`), the oracle after each. Stops at the first disagreement.
 */
export async function runSequence(
  version: number,
  seq: Sequence,
  start = startWorldArena,
): Promise<SequenceResult> {
  const model = initialModel(version, seq);
  const arena = await start(version, seq.method, model.standby);
  running.add(arena);
  try {
    await arena.perform(initialApply, FIRST_CHOICES);
    await fc.asyncModelRun(() => ({ model, real: arena }), seq.commands);
  } catch (err) {
    if (!(err instanceof Disagreement)) throw err;
  } finally {
    running.delete(arena);
    await arena.stop();
  }
  return arena.result;
}

export interface TortureOptions extends DrawOptions {
  /** fast-check's seed (an integer) */
  seed: number;
  /** sequences to run (fast-check's numRuns; ignored with `path`) */
  runs: number;
  /** fast-check's path of a counterexample: replays exactly that sequence (with `replayPath`) */
  path?: string;
  /** shrink a failing sequence (default); off: report the first failure as drawn */
  shrink?: boolean;
  /** stop shrinking after this long (the best counterexample so far is reported) */
  shrinkMs?: number;
  /** each sequence's result as it ends */
  onRun?: (r: SequenceResult, seq: Sequence) => void;
  start?: StartArena;
}

export interface TortureReport {
  version: number;
  seed: number;
  /** sequences run (shrinking's included) */
  runs: number;
  /** shrinking steps that kept failing */
  shrinks: number;
  /** the counterexample: the shortest failing sequence found (none: every sequence passed) */
  failure: SequenceResult | null;
  /** its operations, as fast-check prints them */
  commands: string;
  path: string | null;
  replayPath: string | null;
  /** shrinking stopped at its time budget: the counterexample may not be the shortest */
  shrinkCut: boolean;
  /** an error that is no disagreement (the arena could not start, a ceiling in an operation) */
  error: string | null;
  /** the last sequence run, as far as it went (its log: what led to an error) */
  last: SequenceResult | null;
  opts: DrawOptions;
}

/**
 * Runs sequences on `version` as one fast-check property over `sequenceArbitrary`: fast-check
 * draws them from `seed`, and shrinks the first that fails (commands dropped, choices made
 * simpler) to the shortest that still fails; `path` and `replayPath` replay one exactly.
 */
export async function torture(version: number, opts: TortureOptions): Promise<TortureReport> {
  let last: SequenceResult | null = null;
  const start: StartArena = async (...args) => {
    const arena = await (opts.start ?? startWorldArena)(...args);
    last = arena.result;
    return arena;
  };
  const replaying = opts.path !== undefined;
  let failure: SequenceResult | null = null;
  let failedAt: number | null = null;
  let shrinkCut = false;
  let runs = 0;
  const property = fc.asyncProperty(sequenceArbitrary(version, opts), async (seq) => {
    if (failedAt !== null && opts.shrinkMs !== undefined && Date.now() - failedAt > opts.shrinkMs) {
      shrinkCut = true;
      fc.pre(false);
    }
    runs += 1;
    let r: SequenceResult;
    try {
      r = await runSequence(version, seq, start);
    } catch (err) {
      failure = null;
      failedAt ??= Date.now();
      throw err;
    }
    opts.onRun?.(r, seq);
    if (r.disagreements.length > 0) {
      failure = r;
      failedAt ??= Date.now();
      throw new Disagreement(r.disagreements.join('\n'));
    }
  });
  const details = await fc.check(property, {
    seed: opts.seed,
    numRuns: replaying ? 1 : opts.runs,
    ...(replaying ? { path: opts.path } : {}),
    endOnFailure: replaying || opts.shrink === false,
  });
  const commands = details.counterexample ? String(details.counterexample[0].commands) : '';
  const error =
    details.failed && !(details.errorInstance instanceof Disagreement)
      ? String(details.errorInstance ?? 'the sequence failed')
      : null;
  return {
    version,
    seed: details.seed,
    runs,
    shrinks: details.numShrinks,
    failure: details.failed ? failure : null,
    commands: commands.replace(/\s*\/\*replayPath=.*\*\/$/, ''),
    path: details.counterexamplePath,
    replayPath: /replayPath="([^"]*)"/.exec(commands)?.[1] ?? opts.replayPath ?? null,
    shrinkCut,
    error,
    last,
    opts: { open: opts.open, names: opts.names },
  };
}

/** How to run a counterexample again, exactly. */
export function replayCommand(r: TortureReport): string {
  const flags = [
    `--seed ${r.seed}`,
    ...(r.path ? [`--path ${r.path}`] : []),
    ...(r.replayPath ? [`--replay-path '${r.replayPath}'`] : []),
    ...(r.opts.open ? ['--open'] : []),
    ...(r.opts.names ? [`--ops ${r.opts.names.join(',')}`] : []),
  ];
  return `STEEP_TEST_PG=${r.version} npm run torture -- ${flags.join(' ')}`;
}

/** The report of a property that failed: the replay line, the shrunk sequence, what happened. */
export function describeFailure(r: TortureReport): string {
  const f = r.failure;
  return [
    `torture seed ${r.seed} on PostgreSQL ${r.version}: ${f ? `${f.disagreements.length} disagreement(s)` : 'failed'} after ${r.runs} sequence(s), ${r.shrinks} shrink(s)${r.shrinkCut ? ' (shrinking stopped at its time budget)' : ''}`,
    `replay: ${replayCommand(r)}`,
    `commands: ${r.commands}`,
    ...(f ? [`init ${f.method}; operations: ${f.ops.join(' → ')}`, ...f.disagreements] : []),
    ...(r.error ? [`error: ${r.error}`] : []),
    ...(f
      ? ['--- log', ...f.log]
      : r.error && r.last
        ? [`operations: ${r.last.ops.join(' → ')}`, '--- log', ...r.last.log]
        : []),
  ].join('\n');
}
