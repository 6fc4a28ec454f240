// What pg_basebackup --wal-method=stream does, for bench/init-physical.mjs (Debian's
// pg_basebackup 15 refuses a newer server and the embedded binaries have none): a physical slot
// reserving WAL, pg_backup_start, the data directory streamed through tar, pg_backup_stop, its
// backup_label and the WAL from the backup's start, and recovery.signal. Not a bench.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chownToServerUser } from '../dist/sandbox/serverUser.js';
import { sql } from './common.mjs';

const run = promisify(execFile);

/** A copy of `pub`'s data directory in `dataDir`, ready to recover and be promoted; `name` names its slot and backup. */
export async function baseBackup(pub, dataDir, name) {
  await sql(pub, `SELECT pg_create_physical_replication_slot('${name}_base', true)`);
  const session = await pub.adminClient('app');
  try {
    await session.query(`SELECT pg_backup_start('${name}', true)`);
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o700);
    await chownToServerUser(dataDir);
    // what pg_basebackup leaves out; files that change or go while tar reads them are
    // what the WAL replays (GNU tar's exit 1 says only that)
    const exclude = [
      ...[
        'pg_wal',
        'pg_replslot',
        'pg_stat_tmp',
        'pg_dynshmem',
        'pg_notify',
        'pg_serial',
        'pg_snapshots',
        'pg_subtrans',
      ].map((d) => `./${d}/*`),
      './postmaster.pid',
      './postmaster.opts',
      './server.log',
      'pg_internal.init',
      './.s.PGSQL.*',
    ];
    await run('bash', [
      '-c',
      `tar -C "$1" ${exclude.map((e) => `--exclude='${e}'`).join(' ')} --warning=no-file-changed --warning=no-file-removed -cf - . | tar -C "$2" -xpf -; s=("\${PIPESTATUS[@]}"); [ "\${s[0]}" -le 1 ] && [ "\${s[1]}" -eq 0 ]`,
      'copy',
      pub.dataDir,
      dataDir,
    ]);
    const {
      rows: [stopped],
    } = await session.query(
      'SELECT labelfile, spcmapfile, pg_walfile_name(pg_current_wal_insert_lsn()) AS last FROM pg_backup_stop(false)',
    );
    writeFileSync(join(dataDir, 'backup_label'), stopped.labelfile, { mode: 0o600 });
    if (stopped.spcmapfile)
      writeFileSync(join(dataDir, 'tablespace_map'), stopped.spcmapfile, { mode: 0o600 });
    const first = /\(file ([0-9A-F]{24})\)/.exec(stopped.labelfile)[1];
    const wal = readdirSync(join(pub.dataDir, 'pg_wal')).filter(
      (f) => f.endsWith('.history') || (/^[0-9A-F]{24}$/.test(f) && f >= first && f <= stopped.last),
    );
    await run('cp', ['-a', ...wal.map((f) => join(pub.dataDir, 'pg_wal', f)), join(dataDir, 'pg_wal')]);
    writeFileSync(join(dataDir, 'recovery.signal'), '');
    await chownToServerUser(dataDir, true);
  } finally {
    await session.end();
    await sql(pub, `SELECT pg_drop_replication_slot('${name}_base')`);
  }
}
