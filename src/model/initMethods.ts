/**
 * The init methods, one row each: what a method means, as traits the rest of steep asks instead
 * of comparing method names. `InitMethod` is this table's keys, so a new method without a row
 * does not compile, nor a row without the init step that follows its create (`AFTER_CREATE`,
 * planner/init/init.ts); `test/unit/model/initMethods.test.ts` fails until `init.method`'s enum
 * in schemas/steep.schema.json (and a link's, for `link: true`) and docs/init.md name it.
 *
 * Code about one method's own behaviour compares its name, on purpose: the init step of each
 * method (`planner/init/init.ts`: `ownCopyPending`, `twoPhasePending`, `initNeverRecorded`) and
 * its warnings; two-phase's snapshot files (`copy/twoPhase.ts`, `copy/snapshotListing.ts`,
 * `copy/loadMode.ts`, `planner/init/ownCopyLoad.ts`'s load mode); physical's clone
 * (`planner/init/initPrepare.ts`, `planner/init/manualInit.ts`, `workflows/initPrepare.ts`,
 * `workflows/restorePoints.ts`); merge's strategy and unit (`config/mergeStrategy.ts`,
 * `workflows/mergeInit.ts`, `planner/schema/schemaScope.ts`); a link's `snapshot` and `none`
 * (`config/links.ts`, `planner/subscriptions/linkWayBack.ts`); the copy rates `snapshot` recorded
 * (`planner/init/copyEstimate.ts`); two-phase's create and its warnings
 * (`planner/subscriptions/subscriptionCreate.ts`); and messages that name the method
 * (`config/references.ts`, `planner/init/reinitRefusals.ts`, `planner/subscriptions/dataGaps.ts`).
 * `test/unit/model/initMethods.test.ts` fails when another file compares a method's name.
 */

/** `manual` and `physical` differ only in where the restored rows' position is read (physical: the clone's timeline). */
const RESTORED = {
  create: { copyData: false, slotMadeBefore: true },
  rows: 'restore',
  ownCopy: 'never',
  joiningTables: 'newTables',
  underLocks: false,
  link: false,
} as const;

export const INIT_METHOD = {
  snapshot: {
    create: { copyData: true, slotMadeBefore: false },
    rows: 'copy',
    ownCopy: 'chosen',
    joiningTables: 'copied',
    underLocks: false,
    link: true,
  },
  manual: RESTORED,
  physical: RESTORED,
  'two-phase': {
    create: { copyData: false, slotMadeBefore: true },
    rows: 'files',
    ownCopy: 'always',
    joiningTables: 'copied',
    underLocks: false,
    link: false,
  },
  merge: {
    create: { copyData: false, slotMadeBefore: false },
    rows: 'merge',
    ownCopy: 'never',
    joiningTables: 'unchecked',
    underLocks: true,
    link: true,
  },
  none: {
    create: { copyData: false, slotMadeBefore: false },
    rows: 'vouched',
    ownCopy: 'never',
    joiningTables: 'newTables',
    underLocks: false,
    link: true,
  },
} as const satisfies Record<string, InitMethodTraits>;

export type InitMethod = keyof typeof INIT_METHOD;

export interface InitMethodTraits {
  /**
   * CREATE SUBSCRIPTION (`initPlan`, planner/subscriptions/subscriptionCreate.ts): `copyData`,
   * PostgreSQL's table sync copies at the create (unless steep's own copy does); `slotMadeBefore`,
   * it is created disabled with `create_slot = false` on a slot made before it (`init prepare`,
   * `snapshot generate`) and enabled by its init. A merge's slots are made by its locked pass
   * (`underLocks`), not by the create.
   */
  create: { copyData: boolean; slotMadeBefore: boolean };
  /**
   * Who fills the subscriber's tables: `copy` steep or PostgreSQL at the create, `restore` the DBA
   * from a backup or a clone at the slot `init prepare` made, `files` `steep snapshot apply`,
   * `merge` steep's reconciliation of both sides, `vouched` nobody (the DBA says they are equal).
   */
  rows: 'copy' | 'restore' | 'files' | 'merge' | 'vouched';
  /** Whether steep's own copy engine loads it: `always`, `chosen` by `copyPath` (init.parallel, init.splitAbove), `never`. */
  ownCopy: 'always' | 'chosen' | 'never';
  /**
   * Tables that join an existing subscription later: `copied` by PostgreSQL's refresh
   * (`copy_data = true`, obeying `init.existingData`; a two-phase one once its snapshot is
   * applied), `newTables` copied only with `init.newTables: copy` (else a data gap, or `skip`),
   * `unchecked` neither copied nor refused.
   */
  joiningTables: 'copied' | 'newTables' | 'unchecked';
  /** Started by a merge unit's locked pass (planner/init/mergeInit.ts), which makes the slots itself. */
  underLocks: boolean;
  /** A link's `init.method` may name it (config/links.ts). */
  link: boolean;
}

/** The methods, in the table's order (the schema's enum order). */
export const INIT_METHODS = Object.keys(INIT_METHOD) as InitMethod[];

/** The methods whose data the DBA restores on the subscriber from a slot `steep init prepare` made. */
export function restoredByUser(method: InitMethod): boolean {
  return INIT_METHOD[method].rows === 'restore';
}

/** The methods that copy the rows at the create (steep's copy or PostgreSQL's). */
export function copiesAtCreate(method: InitMethod): boolean {
  return INIT_METHOD[method].rows === 'copy';
}

/** The methods whose joining tables PostgreSQL's refresh copies (`copy_data = true`). */
export function copiesJoiningTables(method: InitMethod): boolean {
  return INIT_METHOD[method].joiningTables === 'copied';
}
