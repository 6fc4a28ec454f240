import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LocalServer } from '../../src/sandbox/localServer.js';
import { findFreePort } from '../../src/sandbox/ports.js';
import { chownToServerUser } from '../../src/sandbox/serverUser.js';
import { startCopy, type TestNode } from './cluster.js';

/**
 * A base backup of a running node made the way docs/init.md tells a DBA to make a physical
 * clone, without pg_basebackup (the embedded packages ship none, and Debian's refuses a newer
 * server): `pg_backup_start`, a copy of the data directory while the node runs, `pg_backup_stop`
 * (its label written as `backup_label`), the WAL copied again after the stop; then the rest of
 * `printed`, the pg_basebackup line `steep init prepare` printed, run as printed (its recovery
 * setup: `recovery.signal`, `restore_command = 'false'`, no logical replication worker): started,
 * it recovers to the end of the WAL it holds and promotes itself onto a timeline of its own. `dir`:
 * its data directory's name beside `source`'s (default `name`); `port`: where it listens (default
 * a free one).
 */
export async function backupClone(
  source: TestNode,
  name: string,
  opts: { printed: string; dir?: string; port?: number },
): Promise<TestNode> {
  const dataDir = path.join(path.dirname(source.dataDir), opts.dir ?? name);
  await fs.mkdir(dataDir, { mode: 0o700 });
  const c = await source.client();
  try {
    const v15 = source.version >= 15;
    await c.query(v15 ? 'SELECT pg_backup_start($1, true)' : 'SELECT pg_start_backup($1, true, false)', [
      name,
    ]);
    await copyTree(source.dataDir, dataDir, '.');
    const { rows } = await c.query<{ labelfile: string; spcmapfile: string | null }>(
      v15
        ? 'SELECT labelfile, spcmapfile FROM pg_backup_stop(false)'
        : 'SELECT labelfile, spcmapfile FROM pg_stop_backup(false, false)',
    );
    await fs.writeFile(path.join(dataDir, 'backup_label'), rows[0]!.labelfile);
    if (rows[0]!.spcmapfile) await fs.writeFile(path.join(dataDir, 'tablespace_map'), rows[0]!.spcmapfile);
  } finally {
    await c.end().catch(() => {});
  }
  // the WAL up to the backup's end, written while the files were copied
  await copyTree(source.dataDir, dataDir, 'pg_wal');
  for (const leftover of ['postmaster.pid', 'postmaster.opts', 'server.log', 'standby.signal'])
    await fs.rm(path.join(dataDir, leftover), { force: true });
  const slots = path.join(dataDir, 'pg_replslot');
  for (const entry of await fs.readdir(slots))
    await fs.rm(path.join(slots, entry), { recursive: true, force: true });
  // the rest of the printed line, as printed: its recovery setup
  const setup = opts.printed.split(' && ').slice(1).join(' && ').replaceAll('DATADIR', dataDir);
  await new Promise<void>((resolve, reject) =>
    execFile('bash', ['-c', setup], (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve())),
  );
  await chownToServerUser(dataDir, true);
  const server = await LocalServer.existing({
    dataDir,
    name,
    port: opts.port ?? (await findFreePort()),
    user: 'postgres',
    password: source.password,
    database: 'app',
    auth: 'scram-sha-256',
    standby: true,
  });
  if (!server) throw new Error(`backupClone: ${dataDir} holds no cluster`);
  return startCopy(source, server);
}

/** `from/part` into `to/part` as tar copies a live directory: files changing or vanishing meanwhile are fine. */
function copyTree(from: string, to: string, part: string): Promise<void> {
  // tar exits 1 when a file changed as it was read: expected of a running server
  const script =
    'set -o pipefail; (tar -C "$1" -cf - --warning=no-file-changed --warning=no-file-removed --ignore-failed-read ' +
    '--exclude=./postmaster.pid --exclude=./server.log "$3" || [ $? -eq 1 ]) | tar -C "$2" -xpf -';
  return new Promise((resolve, reject) =>
    execFile('bash', ['-c', script, 'copy', from, to, part], (err, _out, stderr) =>
      err ? reject(new Error(`copying ${from}/${part}: ${stderr}`)) : resolve(),
    ),
  );
}

/** What apply's warning asks of a clone started without logical replication workers, done: RESET, restart. */
export async function workersOn(clone: TestNode): Promise<void> {
  await clone.query('ALTER SYSTEM RESET max_logical_replication_workers');
  await clone.restart('fast');
}
