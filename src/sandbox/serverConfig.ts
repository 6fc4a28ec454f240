/**
 * The configuration a local server runs with: steep's block of postgresql.conf (rewritten at
 * every start, the rest of the file kept) and the whole pg_hba.conf.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LOOPBACK } from './ports.js';

/** How TCP connections authenticate; the Unix socket (in a directory only the server user can enter) is always trust. */
export type HostAuth = 'scram-sha-256' | 'trust';

/**
 * Server settings of every local server: logical replication with room to spare, and no
 * durability against an OS crash (these are throw-away nodes for tests and demos).
 * `synchronous_commit` stays on: with fsync off it costs a write() per commit, and it keeps
 * committed rows across `pg_ctl stop -m immediate`, which crash tests rely on.
 */
export const LOCAL_SERVER_SETTINGS: Readonly<Record<string, string>> = {
  listen_addresses: LOOPBACK,
  wal_level: 'logical',
  max_replication_slots: '20',
  max_wal_senders: '20',
  max_worker_processes: '32',
  max_logical_replication_workers: '16',
  max_sync_workers_per_subscription: '4',
  fsync: 'off',
  full_page_writes: 'off',
  shared_buffers: '32MB',
};

const CONF_BEGIN = '# >>> steep: managed block, rewritten at every start';
const CONF_END = '# <<< steep';

function confValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Rewrite steep's block of `dataDir`/postgresql.conf (LOCAL_SERVER_SETTINGS, then `settings`)
 * and the whole pg_hba.conf (`auth` for TCP, trust on the socket).
 */
export async function writeServerConfig(
  dataDir: string,
  opts: { settings: Record<string, string>; auth: HostAuth },
): Promise<void> {
  const settings: Record<string, string> = { ...LOCAL_SERVER_SETTINGS, ...opts.settings };
  const confPath = path.join(dataDir, 'postgresql.conf');
  const conf = await fs.readFile(confPath, 'utf8');
  const begin = conf.indexOf(CONF_BEGIN);
  const base = begin >= 0 ? conf.slice(0, begin) : conf.endsWith('\n') ? conf : `${conf}\n`;
  const block = Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`);
  // write in place: the file keeps its owner
  await fs.writeFile(confPath, `${base}${CONF_BEGIN}\n${block.join('\n')}\n${CONF_END}\n`);
  const hba = [
    '# written by steep at every start',
    '# TYPE  DATABASE     USER  ADDRESS        METHOD',
    'local   all          all                  trust',
    'local   replication  all                  trust',
    `host    all          all   127.0.0.1/32   ${opts.auth}`,
    `host    replication  all   127.0.0.1/32   ${opts.auth}`,
    '',
  ];
  await fs.writeFile(path.join(dataDir, 'pg_hba.conf'), hba.join('\n'));
}
