import type pg from 'pg';
import { readSlotCreationBlockers, type SlotCreationBlocker } from '../catalog/slotWait.js';
import { connect } from '../db/connect.js';
import type { ConnectionSpec } from '../model/topology.js';
import { formatDuration } from '../render/initProgress.js';

/**
 * While CREATE SUBSCRIPTION (or a slot-create step) runs, say what its slot waits for on the publisher: the slot is
 * made only once every transaction open there when it started has ended, so one transaction
 * left open (a forgotten psql session, a long batch) holds the step for as long as it lasts,
 * with no statement timeout by default. Only an observer: it never ends anybody's session, it
 * opens its connection only once the step has run `firstAfterMs`, and its own errors are ignored.
 */
export interface SlotWaitWatch {
  publisher: { name: string; connection: ConnectionSpec };
  /** whose walsender makes the slot (CREATE SUBSCRIPTION); null for a slot-create step */
  subscription: string | null;
  /** the pid of the session that makes the slot itself (a slot-create step), if not the walsender */
  waiter?: number;
  connectTimeoutMs: number;
  onWaiting: (message: string) => void;
  firstAfterMs?: number;
  everyMs?: number;
}

const SHOWN = 3;

function who(b: SlotCreationBlocker): string {
  const parts = [
    b.applicationName,
    b.role ? `role ${b.role}` : null,
    b.openSeconds !== null ? `open for ${formatDuration(b.openSeconds)}` : null,
    b.state,
  ].filter((p): p is string => p !== null && p !== '');
  return `pid ${b.pid}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

export function slotWaitMessage(publisher: string, blockers: SlotCreationBlocker[]): string {
  const shown = blockers.slice(0, SHOWN).map(who).join('; ');
  const more = blockers.length > SHOWN ? ` and ${blockers.length - SHOWN} more` : '';
  return (
    `waiting on ${publisher}: the slot is made once the transactions open there end: ${shown}${more}; ` +
    'it goes on by itself when they commit or roll back'
  );
}

/** Start watching; the returned function stops it. */
export function watchSlotCreation(w: SlotWaitWatch): () => Promise<void> {
  let stopped = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  const check = async (): Promise<void> => {
    try {
      if (!client) {
        const c = await connect(w.publisher.connection, {
          node: w.publisher.name,
          applicationName: 'steep apply',
          connectTimeoutMs: w.connectTimeoutMs,
        });
        if (stopped) {
          await c.end().catch(() => {});
          return;
        }
        client = c;
      }
      const blockers = await readSlotCreationBlockers(client, w.subscription, w.waiter ?? null);
      if (!stopped && blockers.length > 0) w.onWaiting(slotWaitMessage(w.publisher.name, blockers));
    } catch {
      // an observer: what it cannot see, it does not say
    }
    if (!stopped) timer = setTimeout(check, w.everyMs ?? 5_000);
  };
  timer = setTimeout(check, w.firstAfterMs ?? 2_000);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await client?.end().catch(() => {});
  };
}
