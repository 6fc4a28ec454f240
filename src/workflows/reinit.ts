/**
 * `steep reinit SUBSCRIPTION --tables a,b | --schema s | --full` (docs/steep-yaml.md): copy some tables of
 * a subscription again while the others keep streaming. Takes steep's advisory lock on both
 * nodes for the whole run; reads both, plans (planner/init/reinit), executes and follows the copy.
 */

import type pg from 'pg';
import { readFedUpstream, readSubscriptionInfo, type SubscriptionInfo } from '../catalog/compareScope.js';
import { readDisableOnError } from '../catalog/errorCounters.js';
import { readFinishedCopies, withoutSyncSlot } from '../catalog/initProgress.js';
import {
  readDeniedFunctions,
  readForeignKeysTo,
  readInheritanceParents,
  readPublicationDefs,
} from '../catalog/reinit.js';
import { serverVersionOf } from '../catalog/session.js';
import { readTwoPhaseEnabled } from '../catalog/subscriptionOnNode.js';
import { loadTopology } from '../config/load.js';
import { lockedSessions } from '../db/lockedSession.js';
import type { EventSink, Stop } from '../executors/events.js';
import { followTargetOf, recordTransition, stateChangeEvent } from '../executors/initFollow.js';
import { executeReinit } from '../executors/reinit.js';
import { subscriptionAddress } from '../model/address.js';
import { DISCARD_PAST_FORK, pastForkDeleted } from '../model/advice.js';
import { disabledOnError } from '../model/disableOnError.js';
import { SteepError } from '../model/errors.js';
import { unrecordedState } from '../model/initLifecycle.js';
import type { InitProgress, InitState } from '../model/initState.js';
import { deniedCalls } from '../model/privileges.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { declaredSubscription, qualifiedName, tableOfQualified } from '../model/topology.js';
import {
  planReinit,
  type ReinitInput,
  type ReinitRequest,
  refuseFedUpstream,
  reinitTables,
  temporaryPublications,
} from '../planner/init/reinit.js';
import { type LoopPlan, planLoopedReinit } from '../planner/init/reinitLoop.js';
import {
  refuseDisabled,
  refuseElsewhere,
  refusePastFork,
  refuseRetired,
  refuseStaleUrl,
  refuseTwoPhase,
  refuseUnfinishedInit,
} from '../planner/init/reinitRefusals.js';
import { DivergedTablesStore } from '../state/divergedTables.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { baselinesAtCopy } from './continuity.js';
import { recordErrorReading, requireEvidence } from './initEvidence.js';
import { observe } from './plan.js';
import { missedDeletes, reconcileLooped } from './reinitLoop.js';
import { failoverNow, repairSlot, slotToRepair } from './reinitSlot.js';
import { recordSettled } from './streamPositions.js';

export interface ReinitOptions {
  onEvent: EventSink;
  onProgress?: (p: InitProgress) => void;
  onPlanned?: (tables: string[], stage: string) => void;
  pollMs?: number;
  /** SIGINT/SIGTERM/SIGHUP: armed once the reinit is planned; then `reinit.interrupted`, resumable */
  stop?: Stop;
  /**
   * Asked once the tables are known, before anything changes: their rows on the subscriber are
   * replaced by the publisher's (`steep reinit` asks, or takes --auto-approve); throws to refuse.
   */
  confirm?: (tables: string[], node: string, from: string, pastFork?: string) => Promise<void>;
  /**
   * --discard-past-fork: after a failover under which the subscriber may hold rows past the fork,
   * the user's word that what it must keep is on the publisher; a full reinit deletes them only then.
   */
  discardPastFork?: boolean;
}

const STATEMENT_TIMEOUT_MS = 60_000;
const LOCK_TIMEOUT_MS = 5_000;

/** The one of `--tables a,b` (as `schema.table` names), `--schema s` and `--full` given. */
export function reinitRequest(flags: {
  tables?: string[];
  schema?: string;
  full?: boolean;
  discardPastFork?: boolean;
}): ReinitRequest {
  const given = [flags.tables !== undefined, flags.schema !== undefined, flags.full === true].filter(
    Boolean,
  ).length;
  if (given !== 1)
    throw new SteepError(
      'reinit.usage',
      'name what to reinit with exactly one of --tables a,b, --schema s or --full',
    );
  if (flags.discardPastFork && !flags.full)
    throw new SteepError(
      'reinit.usage',
      `${DISCARD_PAST_FORK} goes with --full: only a full copy repairs a failover`,
    );
  if (flags.full) return { full: true };
  if (flags.schema !== undefined) return { schema: flags.schema };
  const tables = flags.tables!.map((t) => qualifiedName(tableOfQualified(t)));
  if (tables.length === 0) throw new SteepError('reinit.usage', '--tables names no table');
  return { tables };
}

export async function reinitSubscription(
  configPath: string,
  subscription: string,
  request: ReinitRequest,
  opts: ReinitOptions,
) {
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'verify.unknown_subscription');
  return { ...(await reinitLoaded(topology, d, request, opts)), configWarnings: warnings };
}

export async function reinitLoaded(
  topology: Topology,
  d: SubscriptionSpec,
  request: ReinitRequest,
  opts: ReinitOptions,
) {
  const t0 = Date.now();
  const address = subscriptionAddress(d.name);
  const { sub, pub } = await lockedPair(topology, d, 'reinit', {
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: LOCK_TIMEOUT_MS,
  });
  try {
    const info = await readSubscriptionInfo(sub, d.name);
    if (!info)
      throw new SteepError(
        'reinit.refused',
        `subscription ${d.name} does not exist on ${d.node}, so it is not initialised: create and initialise it with steep apply`,
        { node: d.node, address },
      );
    const schema = topology.settings.stateSchema;
    const stateTables = await hasInitTables(sub, schema);
    const states = new SubscriptionStateStore(schema, d.node);
    const stored = stateTables ? await states.get(sub, d.name) : undefined;
    refuseUnfinishedInit(d, info.enabled, stored?.state);
    refuseRetired(d, info.enabled, info.slot === null);
    const version = await serverVersionOf(sub);
    if (await readTwoPhaseEnabled(sub, version, d.name)) refuseTwoPhase(d, version);
    const slot = info.slot ?? d.slot;
    // read and refused here; repaired (written) only once the reinit is confirmed
    const slotRepair = await slotToRepair(topology, d, pub, slot, 'full' in request, info.publications);
    // disabled where apply does not enable it, by PostgreSQL after an error (disable_on_error,
    // errors counted) or (by hand too) after a failover that left it diverged, and every table
    // copied again (--full): the reinit empties its tables, then enables it (the error, a conflict
    // with rows the copy replaces, goes with them; a slot made again first where it needs
    // repair). Any other disabled one is refused (with its cause and the ENABLE where PostgreSQL
    // disabled it, or a failover's way out where one left it diverged, else steep apply)
    const errors = info.enabled
      ? undefined
      : await readDisableOnError(sub, version, d.name, {
          schema: topology.settings.stateSchema,
          node: d.node,
        });
    const byPostgres = errors !== undefined && disabledOnError({ enabled: false, ...errors });
    const failover = await failoverNow(topology, d);
    // its publisher's url an older branch (the old primary started again): copies nothing from it
    refuseStaleUrl(failover.stale);
    const diverged = info.enabled ? undefined : failover.diverged;
    const refuseDisabledNow = () =>
      refuseDisabled(d, info.enabled, {
        byPostgres: byPostgres ? { errorsCounted: errors!.errorsCounted } : undefined,
        diverged,
      });
    const enables = (byPostgres || diverged !== undefined) && 'full' in request;
    if (!enables) refuseDisabledNow();
    // what the reinit works with: enabled, or enabled by it once its tables are emptied
    const enabled = info.enabled || enables;
    // adopted and never recorded: streaming with every table ready is synchronized
    const recorded: InitState | null = stateTables
      ? (stored?.state ?? unrecordedState({ enabled, tables: info.tables.values() }))
      : null;
    const read = {
      ...(await readReinitInput(d, sub, pub, info, recorded, request, topology)),
      enableAfterTruncate: enables,
    };
    // the failover's way out: what steep apply refuses until it is done is left to the apply after it
    const input =
      failover.diverged !== undefined && 'full' in request ? leftToApply(read, d, opts.onEvent) : read;
    // before the loop's reconcile as before a copy
    refuseFedUpstream(input);
    const details = { method: d.init.method, source: d.from };
    const moveTo = async (to: InitState) => (stateTables ? states.transition(sub, d.name, to, details) : []);
    const loop = await planLoop(topology, d, sub, input, enabled, recorded);
    // tables replicated both ways are reconciled in place, never emptied: nothing to enable it after
    if (loop && enables) refuseDisabledNow();
    // rows past a failover's fork, maybe the only copy: deleted only on the user's word that they were kept
    refusePastFork(d, failover.pastFork, 'full' in request, opts.discardPastFork === true);
    // a connection still naming the old primary: its worker would never copy or stream
    refuseElsewhere(d, failover.connectsTo);
    const rest = loop ? loop.rest : null;
    const recipe =
      rest === null || rest.length > 0
        ? planReinit(rest === null ? input : { ...input, request: { tables: rest } })
        : null;
    // before the slot is made again: what broke tells a row only on the subscriber from a delete
    // it missed, unless it may hold rows past a failover's fork; said before the confirmation
    const missed = loop
      ? await missedDeletes(topology, d, loop, {
          slot: slotRepair,
          pastFork: failover.pastFork !== undefined,
          failoverDiverged: failover.diverged !== undefined,
        })
      : null;
    if (missed)
      opts.onEvent({
        event: 'reinit.missed_deletes',
        level: missed.deleted ? 'info' : 'warn',
        node: d.node,
        subscription: d.name,
        message: missed.why,
      });
    await opts.confirm?.(
      [...(loop?.looped ?? []), ...(recipe?.tables ?? [])].sort(),
      d.node,
      d.from,
      failover.pastFork ? pastForkDeleted(d) : undefined,
    );
    if (slotRepair)
      await repairSlot(
        topology,
        d,
        { pub, sub },
        { slot, enabled: info.enabled, repair: slotRepair },
        opts.onEvent,
      );
    let rowsCopied = 0;
    if (loop) {
      await refuseDeniedFenceCalls(d, loop, pub, sub);
      opts.onPlanned?.(loop.looped, 'reconcile');
      for (const c of await moveTo('reinitializing')) opts.onEvent(stateChangeEvent(c));
      rowsCopied = await reconcileLooped(topology, d, loop, slot, opts.onEvent, missed);
    }
    // stage: `fresh`, or where an interrupted reinit was resumed
    let plan: { tables: string[]; stage: string } = { tables: loop?.looped ?? [], stage: 'reconcile' };
    if (recipe) {
      opts.onPlanned?.(recipe.tables, recipe.stage);
      opts.stop?.arm();
      const copied = await executeReinit({ publisher: pub, subscriber: sub }, recipe, {
        moveTo,
        onEvent: opts.onEvent,
        onProgress: opts.onProgress,
        pollMs: opts.pollMs,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        signal: opts.stop?.signal,
        follow: followTargetOf(topology, d, slot),
      });
      plan = { tables: [...plan.tables, ...recipe.tables].sort(), stage: loop ? 'reconcile' : recipe.stage };
      rowsCopied += copied;
    } else for (const c of await moveTo('synchronized')) opts.onEvent(stateChangeEvent(c));
    const state = stateTables
      ? await settleDiverged(d, sub, schema, states, plan.tables, opts.onEvent)
      : null;
    // copied: a gap in their stream is closed; their baseline is taken now, at the copy (model/continuity.ts)
    await new StreamContinuityStore(schema, d.node).forget(sub, d.name, plan.tables);
    await baselinesAtCopy(topology, () => observe(topology), new Map([[d.node, sub]]));
    if ('full' in request) await recordSettled(topology, d, sub, 'reinit');
    // a reinit is an init: the tables it copied are compared before it says synchronized (a
    // difference throws, recorded diverged; otherwise the state stays as it is)
    if (state === 'synchronized' && plan.tables.length > 0) {
      await recordErrorReading(topology, d, sub);
      await requireEvidence(topology, d, {
        parallel: d.init.parallel,
        onEvent: opts.onEvent,
        fields: {},
        what: `the reinit of ${d.name}`,
        tables: plan.tables,
      });
    }
    return {
      subscription: d.name,
      node: d.node,
      from: d.from,
      tables: plan.tables,
      stage: plan.stage,
      state,
      rowsCopied,
      durationMs: Date.now() - t0,
    };
  } finally {
    await Promise.all([sub.end().catch(() => {}), pub.end().catch(() => {})]);
  }
}

/** Both nodes' sessions, each holding steep's advisory lock for the whole reinit or switchover (`what`). */
export async function lockedPair(
  topology: Topology,
  d: SubscriptionSpec,
  what: 'reinit' | 'switchover',
  settings: { statementTimeoutMs: number; lockTimeoutMs: number },
) {
  const sessions = await lockedSessions(topology, [{ node: d.node }, { node: d.from }], {
    applicationName: `steep ${what}`,
    settings,
  }).catch((err: unknown) => {
    if (err instanceof SteepError && err.code === 'connect')
      throw new SteepError(`${what}.unreachable`, `${what} of ${d.name} needs both nodes: ${err.message}`, {
        node: err.node,
        address: subscriptionAddress(d.name),
        cause: err,
      });
    throw err;
  });
  const clients = new Map([...sessions].map(([n, c]) => [n, c!]));
  return { clients, sub: clients.get(d.node)!, pub: clients.get(d.from)! };
}

/**
 * A failover left it diverged and steep.yaml names publications its publisher lacks yet: steep
 * apply refuses to make them for it (planner/publications/publicationCatchUp.ts) until this full
 * reinit, its way out, so the reinit copies what the others publish and leaves them, said, to
 * the apply after it, instead of sending the user back to that apply.
 */
function leftToApply(input: ReinitInput, d: SubscriptionSpec, onEvent: EventSink): ReinitInput {
  const absent = input.publications.filter((p) => !input.defs.has(p));
  if (absent.length === 0 || absent.length === input.publications.length) return input;
  const [what, it, does] =
    absent.length === 1 ? ['publication', 'it', 'does'] : ['publications', 'them', 'do'];
  onEvent({
    event: 'reinit.publications_left',
    level: 'warn',
    node: d.from,
    subscription: d.name,
    message:
      `${what} ${absent.join(', ')} of ${d.name} in steep.yaml ${does} not exist on ${d.from} yet, and steep apply refuses to make ${it} ` +
      `until this reinit (a failover left ${d.name} diverged): this reinit copies the tables of the others; run steep apply after it, which makes ${it} and adds ${it}`,
  });
  return { ...input, publications: input.publications.filter((p) => input.defs.has(p)) };
}

/** What the planner needs to know of both nodes to plan the reinit. */
async function readReinitInput(
  d: SubscriptionSpec,
  sub: pg.Client,
  pub: pg.Client,
  info: SubscriptionInfo,
  recorded: InitState | null,
  request: ReinitRequest,
  topology: Topology,
): Promise<ReinitInput> {
  const temporary = temporaryPublications(d.name, d.publications.length);
  const defs = await readPublicationDefs(pub, await serverVersionOf(pub), [...d.publications, ...temporary]);
  const carried = [...new Set(d.publications.flatMap((p) => defs.get(p)?.tables.map((t) => t.table) ?? []))];
  return {
    subscription: d.name,
    subscriber: d.node,
    publisher: d.from,
    publications: d.publications,
    current: info.publications,
    enabled: info.enabled,
    defs,
    subscribed: info.tables,
    alsoFedBy: info.alsoFedBy,
    fedUpstream: await readFedUpstream(pub, topology, d),
    recorded,
    request,
    foreignKeys: await readForeignKeysTo(sub, carried),
    inheritanceParents: await readInheritanceParents(sub, carried),
    lostSyncSlots: await withoutSyncSlot(pub, await readFinishedCopies(sub, d.name)),
    stateSchema: topology.settings.stateSchema,
  };
}

/** The tables the subscriber publishes back to the publisher: reconciled in place, never truncated. */
async function planLoop(
  topology: Topology,
  d: SubscriptionSpec,
  sub: pg.Client,
  input: ReinitInput,
  enabled: boolean,
  recorded: InitState | null,
): Promise<LoopPlan | null> {
  const back = Object.values(topology.subscriptions).filter((s) => s.node === d.from && s.from === d.node);
  const backDefs =
    back.length > 0
      ? await readPublicationDefs(
          sub,
          await serverVersionOf(sub),
          back.flatMap((b) => b.publications),
        )
      : new Map<string, { tables: Array<{ table: string }> }>();
  return planLoopedReinit(
    {
      subscription: d,
      back,
      publishedBack: new Map(
        back.map((b) => [
          b.name,
          new Set(b.publications.flatMap((p) => backDefs.get(p)?.tables.map((t) => t.table) ?? [])),
        ]),
      ),
      tables: back.length > 0 ? reinitTables(input) : [],
      enabled,
      recorded,
      underWay: temporaryPublications(d.name, d.publications.length).some((t) => input.defs.has(t)),
      stateSchema: topology.settings.stateSchema,
    },
    topology.settings.lockTimeout,
  );
}

/** The fence's replication-origin calls, checked on both nodes before anything is written. */
async function refuseDeniedFenceCalls(
  d: SubscriptionSpec,
  loop: LoopPlan,
  pub: pg.Client,
  sub: pg.Client,
): Promise<void> {
  const denied: string[] = [];
  for (const [node, session, statements] of [
    [d.from, pub, loop.publisher],
    [d.node, sub, loop.subscriber],
  ] as const) {
    const { role, denied: gaps } = await readDeniedFunctions(session);
    const what = `the reinit of tables replicated both ways (${loop.looped.join(', ')})`;
    denied.push(...deniedCalls(node, role, gaps, [...statements.take, ...statements.release], what));
  }
  if (denied.length > 0)
    throw new SteepError('reinit.refused', denied[0]!, {
      address: subscriptionAddress(d.name),
      problems: denied.map((message) => ({ severity: 'error', code: 'reinit.refused', message })),
    });
}

/** The tables copied again are no longer diverged; `diverged` again if others still are. */
async function settleDiverged(
  d: SubscriptionSpec,
  sub: pg.Client,
  schema: string,
  states: SubscriptionStateStore,
  copied: string[],
  onEvent: EventSink,
): Promise<InitState> {
  const diverged = new DivergedTablesStore(schema, d.node);
  if (!(await diverged.exists(sub))) return 'synchronized';
  await diverged.forget(sub, d.name, copied);
  if ((await diverged.list(sub, d.name)).length === 0) return 'synchronized';
  await recordTransition(states, sub, d, 'diverged', onEvent);
  return 'diverged';
}
