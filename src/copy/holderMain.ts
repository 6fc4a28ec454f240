import { statSync } from 'node:fs';
import { PG15 } from '../catalog/queries/catalogQuery.js';
import { connect } from '../db/connect.js';
import { mask } from '../db/mask.js';
import { SNAPSHOT_HOLDER_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { quoteIdent } from '../model/sql.js';
import type { HolderRequest } from './snapshotHolder.js';

/**
 * The snapshot holder, a detached process (see snapshotHolder.ts): it creates the slot with an
 * exported snapshot over a replication connection, prints `{lsn, snapshot}` as one JSON line,
 * and keeps that connection open and idle (the snapshot lives as long as it does) while its
 * heartbeat file is fresh. It outlives a steep that dies, so the rerun copies the rest at the
 * same snapshot; once the file goes or grows stale, it closes the connection and exits.
 */

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

function fresh(file: string, holdMs: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < holdMs;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  process.stdout.on('error', () => {});
  const text = await readStdin();
  // started ahead and not needed after all (HolderProcess.discard)
  if (text === '') process.exit(0);
  const req = JSON.parse(text) as HolderRequest;
  let repl: Awaited<ReturnType<typeof connect>>;
  try {
    repl = await connect(req.connection, {
      node: req.node,
      applicationName: SNAPSHOT_HOLDER_APPLICATION_NAME,
      replication: 'database',
      connectTimeoutMs: req.connectTimeoutMs,
    });
    // PostgreSQL 15 took the options into parentheses; 14 only knows the keyword
    const option = req.serverVersion >= PG15 ? "(SNAPSHOT 'export')" : 'EXPORT_SNAPSHOT';
    const { rows } = await repl.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(req.slot)} LOGICAL pgoutput ${option}`,
    );
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
  const timer = setInterval(() => {
    if (closed || !fresh(req.heartbeatFile, req.holdMs)) {
      clearInterval(timer);
      repl.end().finally(() => process.exit(0));
    }
  }, 500);
}

void main();
