import fc from 'fast-check';
import { choices, type Random } from './choices.js';
import { CATALOG, OPEN_OPERATIONS, type Operation } from './operations.js';
import type { InitMethod } from './world.js';

/**
 * A sequence as fast-check's model-based commands (`fc.commands`, `fc.asyncModelRun`): each
 * operation of the catalog is a command whose `check(model)` says whether the topology allows it
 * now, and whose `run(model, referee)` has the referee perform it (the real one: the operation
 * through the CLI, then the oracle; a unit test's: an in-memory fake). A failing sequence is
 * shrunk by fast-check to the shortest that still fails, and replayed from its seed, path and
 * replay path (README.md).
 */

/** What the topology allows next: the model the commands' preconditions read. */
export interface TortureModel {
  version: number;
  /** the world's physical standby of pa: the one the sequence's first failover needs, or none */
  standby: 'synced' | 'unsynced' | null;
  /** a failover used the standby up: one per sequence */
  failedOver: boolean;
  /** one switchover per sequence (a second after the rollback is `switchover-after-rollback`) */
  switchedOver: boolean;
  /** the old primary came back after the failover (`afterFailover`: once) */
  oldPrimaryBack: boolean;
}

/** Whoever performs the operations: throws `Disagreement` where steep and the oracle disagree. */
export interface Referee {
  perform: (op: Operation, rnd: Random) => Promise<void>;
}

/** steep and the oracle disagree (or steep answered otherwise than documented): the sequence fails. */
export class Disagreement extends Error {}

const switches = (op: Operation) => op.name.startsWith('switchover');

/** The precondition: the version runs it; no failover without its standby, nor twice; one switchover; after a failover, once. */
export function allows(model: TortureModel, op: Operation): boolean {
  if (!(op.runsOn?.(model.version) ?? true)) return false;
  if (op.afterFailover) return model.failedOver && !model.oldPrimaryBack;
  if (op.standby) return model.standby === op.standby && !model.failedOver;
  if (switches(op)) return !model.switchedOver;
  return true;
}

/** What performing `op` changes in the model. */
export function advance(model: TortureModel, op: Operation): void {
  if (op.standby) model.failedOver = true;
  if (op.afterFailover) model.oldPrimaryBack = true;
  if (switches(op)) model.switchedOver = true;
}

export class OperationCommand implements fc.AsyncCommand<TortureModel, Referee> {
  /** the choices the last run made (pick, chance), for toString */
  private readonly made: string[] = [];

  constructor(
    readonly op: Operation,
    private readonly g: fc.GeneratorValue,
    /** TORTURE_OPS: run whatever the model says (the operations were named) */
    private readonly forced = false,
  ) {}

  check(model: Readonly<TortureModel>): boolean {
    return this.forced || allows(model, this.op);
  }

  async run(model: TortureModel, referee: Referee): Promise<void> {
    advance(model, this.op);
    await referee.perform(this.op, choices(this.g, this.made));
  }

  toString(): string {
    return this.made.length > 0 ? `${this.op.name}(${this.made.join(',')})` : this.op.name;
  }
}

/** One sequence: the init method of the first apply, then the commands. */
export interface Sequence {
  method: InitMethod;
  /** as fast-check gives them (wrapped: `commandsOf` unwraps) */
  commands: Iterable<Command>;
}

export type Command = fc.AsyncCommand<TortureModel, Referee, boolean>;

export interface DrawOptions {
  /** TORTURE_OPEN: the open operations may be drawn too */
  open?: boolean;
  /** TORTURE_OPS: these operations in this order (the init method is still drawn) */
  names?: string[];
  /** fast-check's replay path of a counterexample's commands (which of them ran) */
  replayPath?: string;
}

/** The operations a sequence may draw on `version`: the catalog's, the open ones only when asked. */
export function drawable(version: number, open = false, catalog = CATALOG): Operation[] {
  return catalog.filter((op) => (op.runsOn?.(version) ?? true) && (open || !(op.name in OPEN_OPERATIONS)));
}

const METHODS = ['snapshot', 'own-copy', 'two-phase'] as const;
/** a new sequence draws 3–6 commands; shrinking may take it down to none */
export const MIN_COMMANDS = 3;
export const MAX_COMMANDS = 6;

/**
 * Generates like `inner` until the value holds at least `min` commands; shrinks like `inner`
 * (so a counterexample may shrink below `min`).
 */
class AtLeast extends fc.Arbitrary<Iterable<Command>> {
  constructor(
    private readonly inner: fc.Arbitrary<Iterable<Command>>,
    private readonly min: number,
  ) {
    super();
  }
  generate(mrng: fc.Random, bias: number | undefined): fc.Value<Iterable<Command>> {
    for (;;) {
      const v = this.inner.generate(mrng, bias);
      if ([...v.value_].length >= this.min) return v;
    }
  }
  canShrinkWithoutContext(value: unknown): value is Iterable<Command> {
    return this.inner.canShrinkWithoutContext(value);
  }
  shrink(value: Iterable<Command>, context: unknown): fc.Stream<fc.Value<Iterable<Command>>> {
    return this.inner.shrink(value, context);
  }
}

/** The arbitrary of a sequence on `version` (one arbitrary per fast-check run: it keeps the replay path). */
export function sequenceArbitrary(
  version: number,
  opts: DrawOptions = {},
  catalog = CATALOG,
): fc.Arbitrary<Sequence> {
  const command = (op: Operation, forced = false) => fc.gen().map((g) => new OperationCommand(op, g, forced));
  let commands: fc.Arbitrary<Iterable<Command>>;
  if (opts.names) {
    const ops = opts.names.map((n) => {
      const op = catalog.find((o) => o.name === n);
      if (!op) throw new Error(`--ops: no operation ${n} (${catalog.map((o) => o.name).join(', ')})`);
      return op;
    });
    commands = fc.tuple(...ops.map((op) => command(op, true)));
  } else {
    const usable = drawable(version, opts.open, catalog);
    commands = new AtLeast(
      fc.commands(
        usable.map((op) => command(op)),
        { maxCommands: MAX_COMMANDS, ...(opts.replayPath ? { replayPath: opts.replayPath } : {}) },
      ),
      MIN_COMMANDS,
    );
  }
  return fc.record({ method: fc.constantFrom(...METHODS), commands });
}

/** A sequence's commands (fc.commands wraps each to know whether it ran). */
export function commandsOf(seq: Sequence): OperationCommand[] {
  return [...seq.commands].map((c) =>
    c instanceof OperationCommand ? c : (c as unknown as { cmd: OperationCommand }).cmd,
  );
}

/** The model a sequence starts from: its world has the standby its first failover needs. */
export function initialModel(version: number, seq: Sequence): TortureModel {
  const first = commandsOf(seq).find((c) => c.op.standby);
  return {
    version,
    standby: first?.op.standby ?? null,
    failedOver: false,
    switchedOver: false,
    oldPrimaryBack: false,
  };
}

/** The operations a sequence performs if nothing fails: its commands the model allows, in order. */
export function planned(version: number, seq: Sequence): Operation[] {
  const model = initialModel(version, seq);
  const ops: Operation[] = [];
  for (const c of commandsOf(seq))
    if (c.check(model)) {
      advance(model, c.op);
      ops.push(c.op);
    }
  return ops;
}

/** The sequence fast-check draws first for `seed` (what `npm run torture -- --seed S` runs first). */
export function drawn(seed: number, version: number, opts: DrawOptions = {}): Sequence {
  let seq: Sequence | null = null;
  fc.check(
    fc.property(sequenceArbitrary(version, opts), (s) => {
      seq = s;
    }),
    { seed, numRuns: 1 },
  );
  return seq!;
}
