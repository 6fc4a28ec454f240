import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SteepError } from '../model/errors.js';
import type { PgBinaries } from './binaries.js';
import { chownToServerUser, runAsServerUser } from './serverUser.js';

/**
 * A freshly initialised data directory per PostgreSQL build, made once and copied for every new
 * server: `initdb` takes seconds, a copy a fraction of one.
 *
 * Layout: `<tmp>/steep-pg-template-<version>-<uid>/{pgdata/, steep-template.json}`. It is built in a
 * temporary sibling and renamed into place, so a concurrent process (another test worker) sees
 * either nothing or a complete template; the loser of a race discards its copy.
 */
export const BOOTSTRAP_SUPERUSER = 'postgres';
const MARKER = 'steep-template.json';

export function templateRoot(bin: PgBinaries): string {
  return path.join(os.tmpdir(), `steep-pg-template-${bin.version}-${process.getuid?.() ?? 'user'}`);
}

async function isComplete(root: string): Promise<boolean> {
  try {
    await fs.access(path.join(root, MARKER));
    await fs.access(path.join(root, 'pgdata', 'PG_VERSION'));
    return true;
  } catch {
    return false;
  }
}

async function build(bin: PgBinaries, root: string): Promise<void> {
  const tmp = `${root}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { mode: 0o755 });
  try {
    await chownToServerUser(tmp);
    const pgdata = path.join(tmp, 'pgdata');
    const args = [
      '-D',
      pgdata,
      '-U',
      BOOTSTRAP_SUPERUSER,
      '-E',
      'UTF8',
      '--locale=C',
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--no-sync',
      '--no-instructions',
    ];
    const started = Date.now();
    const r = await runAsServerUser(bin.initdb, args, tmp);
    if (r.code !== 0) {
      throw new SteepError(
        'sandbox.initdb',
        `initdb of PostgreSQL ${bin.version} failed: ${tail(r.stderr || r.stdout)}`,
      );
    }
    const marker = {
      version: bin.version,
      initdb: args,
      createdAt: new Date().toISOString(),
      ms: Date.now() - started,
    };
    await fs.writeFile(path.join(tmp, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    try {
      await fs.rename(tmp, root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // someone else finished first: theirs is as good as ours
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isComplete(root))) return;
      throw err;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** The last lines of a tool's output, as one line. */
export function tail(text: string, lines = 3): string {
  return text.trim().split('\n').slice(-lines).join(' ');
}

/** Temporary siblings left by a process killed during initdb. */
async function removeAbandoned(root: string): Promise<void> {
  const dir = path.dirname(root);
  const prefix = `${path.basename(root)}.tmp-`;
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number.parseInt(entry.slice(prefix.length), 10);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
  }
}

const pending = new Map<string, Promise<string>>();

/** The template data directory of this build (its `pgdata`), creating it when absent. */
export function ensureTemplate(bin: PgBinaries): Promise<string> {
  const root = templateRoot(bin);
  let p = pending.get(root);
  if (!p) {
    p = (async () => {
      if (!(await isComplete(root))) {
        // an incomplete leftover cannot come from a rename, but /tmp cleaners exist: replace it
        await fs.rm(root, { recursive: true, force: true });
        await removeAbandoned(root);
        await build(bin, root);
      }
      return path.join(root, 'pgdata');
    })();
    p.catch(() => pending.delete(root));
    pending.set(root, p);
  }
  return p;
}
