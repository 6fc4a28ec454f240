import type pg from 'pg';
import { loadTopology } from '../config/load.js';
import { mask } from '../db/mask.js';
import type { EventSink } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import { quoteIdent, quoteLiteral, quoteTable } from '../model/sql.js';
import type { SubscriptionSpec, TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { temporaryPublications } from '../planner/reinit.js';
import { count } from '../render/count.js';
import { InitProgressStore } from '../state/initProgress.js';
import { InitSlotStore } from '../state/initSlots.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { PREPARE_APPLICATION_NAME } from './initPrepare.js';
import { lockedSessions } from './lockedSession.js';

/**
 * `steep init cancel SUBSCRIPTION` (SPEC §9, SC-006): stop an init and leave nothing behind —
 * the subscription and its slot (and PostgreSQL's table-sync slots) dropped, the tables its copy
 * filled truncated, a prepared slot dropped, the state back to `uninitialized` — within 30 s.
 * Takes apply's advisory lock on both nodes, so it never races an apply.
 */

/** Every statement of a cancel gives up after this long; the whole cancel stays well inside 30 s. */
const STATEMENT_TIMEOUT_MS = 15_000;
const LOCK_TIMEOUT_MS = 5_000;

export interface CancelResult {
  subscription: string;
  node: string;
  from: string;
  /** the state it was in */
  previousState: string;
  droppedSubscription: boolean;
  droppedSlot: string | null;
  truncated: string[];
  /** a slot that could not be dropped (publisher unreachable), to drop by hand */
  slotLeft: string | null;
  durationMs: number;
  configWarnings: Problem[];
}

async function subscribedTables(client: pg.Client, name: string): Promise<TableName[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_catalog.pg_subscription s
       JOIN pg_catalog.pg_subscription_rel sr ON sr.srsubid = s.oid
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
      ORDER BY 1, 2`,
    [name],
  );
  return rows;
}

async function subscriptionExists(client: pg.Client, name: string): Promise<{ slot: string | null } | null> {
  const { rows } = await client.query<{ slot: string | null }>(
    `SELECT subslotname::text AS slot FROM pg_catalog.pg_subscription
      WHERE subname = $1 AND subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())`,
    [name],
  );
  return rows[0] ?? null;
}

function pgMessage(err: unknown): string {
  const e = err as { message?: string; hint?: string };
  return mask(`${e.message ?? String(err)}${e.hint ? ` (${e.hint})` : ''}`);
}

/** Drop a slot nothing should use any more; a `steep init prepare --hold` still holding it is ended first. */
async function dropPreparedSlot(client: pg.Client, slot: string): Promise<boolean> {
  const { rows } = await client.query<{ active_pid: number | null; application_name: string | null }>(
    `SELECT s.active_pid, a.application_name FROM pg_catalog.pg_replication_slots s
       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return false;
  if (r.active_pid !== null) {
    if (r.application_name !== PREPARE_APPLICATION_NAME) {
      throw new SteepError(
        'init.slot_in_use',
        `slot ${slot} is in use by pid ${r.active_pid} (${r.application_name || 'no application_name'}), not by steep init prepare; stop that consumer and cancel again`,
      );
    }
    await client.query('SELECT pg_catalog.pg_terminate_backend($1)', [r.active_pid]);
    for (let i = 0; i < 50; i++) {
      const { rows: still } = await client.query<{ active: boolean }>(
        'SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      if (!still[0]?.active) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  await client.query(`SELECT pg_catalog.pg_drop_replication_slot(${quoteLiteral(slot)})`);
  return true;
}

export async function cancelInit(
  configPath: string,
  subscription: string,
  onEvent: EventSink = () => {},
): Promise<CancelResult> {
  const t0 = Date.now();
  const { topology, warnings } = await loadTopology(configPath);
  const d: SubscriptionSpec | undefined = topology.subscriptions[subscription];
  if (!d)
    throw new SteepError('init.unknown_subscription', `steep.yaml declares no subscription ${subscription}`);
  const address = `subscription.${d.name}`;
  const schema = topology.settings.stateSchema;
  const session = {
    applicationName: 'steep init cancel',
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: LOCK_TIMEOUT_MS,
  };
  // both nodes in apply's order: racing an apply, one of the two always gets through
  const sessions = await lockedSessions(
    topology,
    [{ node: d.node }, { node: d.from, optional: true }],
    session,
  );
  const c = sessions.get(d.node)!;
  const pub = sessions.get(d.from) ?? null;
  try {
    const stateTables = await hasInitTables(c, schema);
    const states = new SubscriptionStateStore(schema, d.node);
    const recorded = stateTables ? await states.get(c, d.name) : null;
    const previous = recorded?.state ?? 'uninitialized';
    if (previous === 'synchronized' || previous === 'diverged') {
      throw new SteepError(
        'init.nothing_to_cancel',
        `subscription ${d.name} on ${d.node} is ${previous}: there is no init to cancel, and cancelling would drop it and ` +
          `truncate its tables; to remove it, take it out of steep.yaml and run steep apply --allow-destroy`,
        { node: d.node, address },
      );
    }
    const prepared = stateTables ? await new InitSlotStore(schema, d.node).forSubscription(c, d.name) : null;
    const existing = await subscriptionExists(c, d.name);
    const result: CancelResult = {
      subscription: d.name,
      node: d.node,
      from: d.from,
      previousState: previous,
      droppedSubscription: false,
      droppedSlot: null,
      truncated: [],
      slotLeft: null,
      durationMs: 0,
      configWarnings: warnings,
    };

    if (existing) {
      const tables = d.init.method === 'snapshot' ? await subscribedTables(c, d.name) : [];
      try {
        await c.query(`ALTER SUBSCRIPTION ${quoteIdent(d.name)} DISABLE`);
        if (existing.slot !== null && !pub) {
          // the publisher cannot drop its slot now: detach it and say so
          await c.query(`ALTER SUBSCRIPTION ${quoteIdent(d.name)} SET (slot_name = NONE)`);
          result.slotLeft = existing.slot;
        }
        await c.query(`DROP SUBSCRIPTION ${quoteIdent(d.name)}`);
      } catch (err) {
        throw new SteepError(
          'init.cancel_failed',
          `cannot drop subscription ${d.name} on ${d.node}: ${pgMessage(err)}`,
          {
            node: d.node,
            address,
            cause: err,
          },
        );
      }
      result.droppedSubscription = true;
      if (existing.slot !== null && result.slotLeft === null) result.droppedSlot = existing.slot;
      if (tables.length > 0) {
        try {
          await c.query(`TRUNCATE TABLE ${tables.map(quoteTable).join(', ')}`);
        } catch (err) {
          throw new SteepError(
            'init.cancel_failed',
            `subscription ${d.name} was dropped, but truncating what it copied on ${d.node} failed: ${pgMessage(err)}; ` +
              `truncate ${tables.map(qualifiedName).join(', ')} by hand`,
            { node: d.node, address, cause: err },
          );
        }
        result.truncated = tables.map(qualifiedName);
      }
    }
    // a prepared slot no subscription took over yet (manual), or one left by a subscription dropped by hand
    const slot = prepared?.slot ?? (existing ? null : d.init.method === 'manual' ? d.slot : null);
    if (slot !== null && result.droppedSlot === null) {
      if (pub) {
        try {
          if (await dropPreparedSlot(pub, slot)) result.droppedSlot = slot;
        } catch (err) {
          if (err instanceof SteepError) throw err;
          throw new SteepError(
            'init.cancel_failed',
            `cannot drop slot ${slot} on ${d.from}: ${pgMessage(err)}`,
            {
              node: d.from,
              address,
              cause: err,
            },
          );
        }
      } else result.slotLeft = slot;
    }

    // an interrupted steep reinit's temporary publications
    if (pub)
      for (const t of temporaryPublications(d.name, d.publications.length))
        await pub.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(t)}`);

    if (stateTables) {
      const changes = await states.transition(c, d.name, 'uninitialized', {
        method: d.init.method,
        source: d.from,
      });
      for (const ch of changes) onEvent(stateChangeEvent(ch));
      await new InitProgressStore(schema, d.node).remove(c, d.name);
      await new InitSlotStore(schema, d.node).removeFor(c, d.name);
    }
    result.durationMs = Date.now() - t0;
    onEvent({
      event: 'init.cancelled',
      level: 'info',
      node: d.node,
      subscription: d.name,
      phase: 'uninitialized',
      duration_ms: result.durationMs,
      message:
        `${result.droppedSubscription ? 'subscription dropped' : 'no subscription'}` +
        `${result.droppedSlot ? `, slot ${result.droppedSlot} dropped on ${d.from}` : ''}` +
        `${result.truncated.length > 0 ? `, ${count(result.truncated.length, 'table')} truncated` : ''}` +
        `${result.slotLeft ? `; slot ${result.slotLeft} left on ${d.from} (unreachable)` : ''}`,
    });
    return result;
  } finally {
    await Promise.all([c.end().catch(() => {}), pub?.end().catch(() => {})]);
  }
}
