import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SNAPSHOT_HOLDER_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { PACKAGE_ROOT } from '../location.js';
import { SteepError } from '../model/errors.js';
import type { ConnectionSpec } from '../model/topology.js';

/**
 * An exported snapshot lives only while the replication connection that exported it stays open
 * and idle (docs/steep-yaml.md). steep keeps that connection in a small detached process, the *holder*, so
 * that a copy interrupted by a crash, a SIGKILL or a Ctrl-C resumes at the very same snapshot:
 * the chunks it finished are consistent with those still to copy and with the slot's consistent
 * point. The holder keeps the snapshot while its heartbeat file is touched (steep touches it
 * every second while it copies), and for `STEEP_SNAPSHOT_HOLD_MS` (default 10 minutes) after the
 * last touch, then lets go; a rerun after that finds the snapshot gone and says so. Once steep is
 * gone (no touch for 5 s) the holder also looks every 5 s whether the slot still exists, and lets
 * go as soon as it does not (dropped by apply --allow-destroy, snapshot delete, …). A held
 * snapshot keeps the publisher's vacuum from removing rows newer than it: it is released as
 * soon as the copy is done.
 */

export interface HolderRequest {
  node: string;
  connection: ConnectionSpec;
  connectTimeoutMs?: number;
  serverVersion: number;
  slot: string;
  /** a failover slot (17+: synchronised to the publisher's standbys) */
  failover?: boolean;
  heartbeatFile: string;
  holdMs: number;
}

export interface HeldSnapshot {
  lsn: string;
  snapshot: string;
}

/** What a holder writes in its heartbeat file once it made the slot (holderMain.ts). */
export interface HeldSlot {
  slot: string;
  node: string;
  /** the slot's consistent point */
  lsn: string;
}

const DEFAULT_HOLD_MS = 10 * 60_000;

/** The slot a heartbeat file names; null when it names none (or is gone). */
export function readHeldSlot(file: string): HeldSlot | null {
  try {
    const held = JSON.parse(readFileSync(file, 'utf8')) as Partial<HeldSlot>;
    return typeof held.slot === 'string' && typeof held.node === 'string' && typeof held.lsn === 'string'
      ? { slot: held.slot, node: held.node, lsn: held.lsn }
      : null;
  } catch {
    return null;
  }
}

export function holdMs(): number {
  const env = Number.parseInt(process.env.STEEP_SNAPSHOT_HOLD_MS ?? '', 10);
  return Number.isFinite(env) && env > 0 ? env : DEFAULT_HOLD_MS;
}

/** A heartbeat file untouched this long: the steep that touched it every second is gone. */
const STOPPED_AFTER_MS = 3_000;

/**
 * Whether nobody touches `file` any more (waiting, when it was touched lately, until it would
 * have been touched again): a steep that still runs keeps it fresh.
 */
export async function heartbeatStopped(file: string): Promise<boolean> {
  const touched = (): number | null => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return null;
    }
  };
  const first = touched();
  if (first === null) return true;
  const wait = STOPPED_AFTER_MS - (Date.now() - first);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return touched() === first;
}

/** Touches the heartbeat file every second until released; release lets the holder go. */
export class Heartbeat {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly file: string) {
    this.touch();
    this.timer = setInterval(() => this.touch(), 1000);
    this.timer.unref();
  }

  private touch(): void {
    try {
      const now = new Date();
      utimesSync(this.file, now, now);
    } catch {
      closeSync(openSync(this.file, 'a'));
    }
  }

  /** Stop touching; with `letGo`, remove the file so the holder ends its snapshot now. */
  stop(letGo: boolean): void {
    clearInterval(this.timer);
    if (letGo) {
      try {
        unlinkSync(this.file);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Start a holder (bin/holder.js, detached, its input and output piped): it creates `slot` with
 * an exported snapshot and holds it. The slot is made once the transactions open on the
 * publisher end: `stop` aborted meanwhile cancels that wait through `canceller` (a session on
 * the publisher), and PostgreSQL drops a slot not yet made.
 */
export async function startHolder(
  req: Omit<HolderRequest, 'holdMs'>,
  stop?: { signal: AbortSignal; canceller: pg.Client },
): Promise<HeldSnapshot & { heartbeat: Heartbeat }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('bin/holder.js', PACKAGE_ROOT))], {
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout });
  /** its first line, or null once it exited without one */
  const answer = new Promise<string | null>((resolve) => {
    lines.once('line', resolve);
    child.once('exit', () => resolve(null));
  });
  const heartbeat = new Heartbeat(req.heartbeatFile);
  child.stdin.end(JSON.stringify({ ...req, holdMs: holdMs() } satisfies HolderRequest));
  const cancel = () => void cancelSlotWait(stop!.canceller, req.slot, answer);
  stop?.signal.addEventListener('abort', cancel, { once: true });
  if (stop?.signal.aborted) cancel();
  const first = await answer.finally(() => stop?.signal.removeEventListener('abort', cancel));
  lines.close();
  child.stdout.destroy();
  child.unref();
  const held = first ? (JSON.parse(first) as Partial<HeldSnapshot> & { error?: string }) : {};
  if (!held.lsn || !held.snapshot) {
    heartbeat.stop(true);
    throw new SteepError(
      'copy.slot_failed',
      `cannot create slot ${req.slot} with an exported snapshot on ${req.node}: ${held.error ?? 'the snapshot holder ended without an answer'}`,
      { node: req.node },
    );
  }
  return { lsn: held.lsn, snapshot: held.snapshot, heartbeat };
}

/**
 * Cancel the holder's `CREATE_REPLICATION_SLOT` of `slot` (its session is the slot's while it is
 * made), again every 100 ms until it answers: it may not have begun yet.
 */
async function cancelSlotWait(canceller: pg.Client, slot: string, answered: Promise<unknown>): Promise<void> {
  let done = false;
  void answered.finally(() => {
    done = true;
  });
  while (!done) {
    await canceller
      .query(
        `SELECT pg_catalog.pg_cancel_backend(s.active_pid) FROM pg_catalog.pg_replication_slots s
           JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
          WHERE s.slot_name = $1 AND a.application_name = $2`,
        [slot, SNAPSHOT_HOLDER_APPLICATION_NAME],
      )
      .catch(() => {});
    await Promise.race([answered, new Promise((r) => setTimeout(r, 100))]);
  }
}
