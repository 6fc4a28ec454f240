import { closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { slotExists } from '../catalog/slotHolder.js';
import { connect, withSession } from '../db/connect.js';
import { mask } from '../db/mask.js';
import { SNAPSHOT_HOLDER_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { quoteIdent } from '../model/sql.js';
import { PG15 } from '../model/versions.js';
import type { HeldSlot, HolderRequest } from './snapshotHolder.js';

/**
 * The snapshot holder, a detached process (see snapshotHolder.ts): it creates the slot with an
 * exported snapshot over a replication connection, prints `{lsn, snapshot}` as one JSON line,
 * and keeps that connection open and idle (the snapshot lives as long as it does) while its
 * heartbeat file is fresh. It outlives a steep that dies, so the rerun copies the rest at the
 * same snapshot; once the file goes, grows stale or is made anew (a rerun that dropped the slot
 * made it), it closes the connection and exits.
 */

/** steep stopped touching the heartbeat this long ago: it is gone (or stuck), the holder waits for its rerun */
const ORPHANED_AFTER_MS = 5_000;
let slotGone = false;

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => {
      text += c;
    });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function say(line: object): void {
  try {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } catch {
    // the parent is gone: keep holding for its rerun
  }
}

/** The heartbeat file as steep made it: one made anew at its path is another run's. */
let own: { ino: number; birthtimeMs: number } | null = null;

/** steep touched the file it made within `holdMs`. */
function fresh(file: string, holdMs: number): boolean {
  try {
    const st = statSync(file);
    if (own && (st.ino !== own.ino || st.birthtimeMs !== own.birthtimeMs)) return false;
    return Date.now() - st.mtimeMs < holdMs;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  process.stdout.on('error', () => {});
  const text = await readStdin();
  // steep ended before it asked
  if (text === '') process.exit(0);
  const req = JSON.parse(text) as HolderRequest;
  try {
    const { ino, birthtimeMs } = statSync(req.heartbeatFile);
    own = { ino, birthtimeMs };
  } catch {
    // not made yet: any file at its path is steep's
  }
  let repl: Awaited<ReturnType<typeof connect>>;
  try {
    repl = await connect(req.connection, {
      node: req.node,
      applicationName: SNAPSHOT_HOLDER_APPLICATION_NAME,
      replication: 'database',
      connectTimeoutMs: req.connectTimeoutMs,
    });
    // PostgreSQL 15 took the options into parentheses; 14 only knows the keyword
    const option =
      req.serverVersion >= PG15
        ? `(SNAPSHOT 'export'${req.failover ? ', FAILOVER' : ''})`
        : 'EXPORT_SNAPSHOT';
    const { rows } = await repl.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(req.slot)} LOGICAL pgoutput ${option}`,
    );
    nameSlot(req, rows[0]!.consistent_point);
    say({ lsn: rows[0]!.consistent_point, snapshot: rows[0]!.snapshot_name });
  } catch (err) {
    say({ error: mask(err instanceof Error ? err.message : String(err)) });
    process.exit(1);
  }
  let closed = false;
  repl.on('error', () => {
    closed = true;
  });
  repl.on('end', () => {
    closed = true;
  });
  let checkedAt = Date.now();
  let checking = false;
  const timer = setInterval(() => {
    const orphaned = !fresh(req.heartbeatFile, ORPHANED_AFTER_MS);
    if (closed || !fresh(req.heartbeatFile, req.holdMs) || slotGone) {
      clearInterval(timer);
      repl.end().finally(() => process.exit(0));
    } else if (orphaned && !checking && Date.now() - checkedAt >= ORPHANED_AFTER_MS) {
      checking = true;
      void checkSlot(req).finally(() => {
        checking = false;
        checkedAt = Date.now();
      });
    }
  }, 500);
}

/**
 * The heartbeat file names the slot now made (a `HeldSlot`), before steep hears of it: a steep
 * interrupted while it waited (the slot is consistent only once the transactions running on
 * the publisher end, which can take long), or before it recorded the slot, leaves its rerun
 * what to drop. Not when the file is gone: steep let go before the slot was made.
 */
function nameSlot(req: HolderRequest, lsn: string): void {
  try {
    const fd = openSync(req.heartbeatFile, 'r+');
    try {
      ftruncateSync(fd);
      writeSync(fd, JSON.stringify({ slot: req.slot, node: req.node, lsn } satisfies HeldSlot));
    } finally {
      closeSync(fd);
    }
  } catch {
    // gone, or not writable: the rerun finds the slot unnamed, as before
  }
}

/**
 * Whether the slot still exists, on a short session of its own (a command on the replication
 * connection would end the snapshot). A slot dropped while steep is gone (apply --allow-destroy,
 * snapshot delete, DROP SUBSCRIPTION) leaves nothing to resume at this snapshot: the holder lets
 * it go then, rather than keep the publisher's vacuum back for the rest of its hold time.
 */
async function checkSlot(req: HolderRequest): Promise<void> {
  try {
    const session = connect(req.connection, {
      node: req.node,
      applicationName: `${SNAPSHOT_HOLDER_APPLICATION_NAME} check`,
      connectTimeoutMs: req.connectTimeoutMs,
    });
    slotGone = !(await withSession(session, (c) => slotExists(c, req.slot)));
  } catch {
    // not answering now: keep holding, as the heartbeat says
  }
}

void main();
