import { execFile, execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SteepError } from '../model/errors.js';

/**
 * The operating-system user the PostgreSQL programs run as. PostgreSQL refuses to run as root,
 * so when steep runs as root the server runs as the `postgres` user, in directories it owns;
 * otherwise it runs as the current user.
 */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  /** true when steep is root and must switch to this user to run PostgreSQL programs */
  switched: boolean;
  /**
   * its home directory, the server's HOME when switched: the libpq of a subscription reads
   * ~/.postgresql/ there, and one in root's HOME it may not enter fails every TLS connection
   */
  home?: string;
}

const SERVER_USER_NAME = 'postgres';
let cached: ServerUser | undefined;

export function serverUser(): ServerUser {
  if (cached) return cached;
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  if (uid !== 0) {
    cached = { name: String(uid), uid, gid, switched: false };
    return cached;
  }
  try {
    const u = Number.parseInt(execFileSync('id', ['-u', SERVER_USER_NAME], { encoding: 'utf8' }).trim(), 10);
    const g = Number.parseInt(execFileSync('id', ['-g', SERVER_USER_NAME], { encoding: 'utf8' }).trim(), 10);
    const home = execFileSync('getent', ['passwd', SERVER_USER_NAME], { encoding: 'utf8' })
      .trim()
      .split(':')[5];
    cached = { name: SERVER_USER_NAME, uid: u, gid: g, switched: true, ...(home ? { home } : {}) };
    return cached;
  } catch (err) {
    throw new SteepError(
      'sandbox.root',
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as',
      { hint: 'create one (useradd --system postgres) or run steep as an ordinary user', cause: err },
    );
  }
}

/** How PostgreSQL programs run: as the server user, and no PG* variable of ours leaks into them. */
export function runAsOptions(cwd?: string) {
  const u = serverUser();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  if (u.switched) env.HOME = u.home ?? '/';
  return { env, cwd, ...(u.switched ? { uid: u.uid, gid: u.gid } : {}) };
}

/** Run a PostgreSQL program as the server user; resolves with its exit code (never rejects on a non-zero exit). */
export function runAsServerUser(
  file: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...runAsOptions(cwd), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code === 'number') resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        else reject(err);
      },
    );
  });
}

/** Synchronous twin for exit hooks; never throws. */
export function runAsServerUserSync(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { ...runAsOptions('/'), stdio: 'ignore', timeout: 30_000 });
  } catch {
    // best effort: the process is exiting
  }
}

/** Give a directory (recursively when asked) to the server user. */
export async function chownToServerUser(dir: string, recursive = false): Promise<void> {
  const u = serverUser();
  if (!u.switched) return;
  await fs.chown(dir, u.uid, u.gid);
  if (!recursive) return;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownToServerUser(p, true);
    else await fs.lchown(p, u.uid, u.gid);
  }
}

/**
 * Every ancestor of `dir` must be searchable by the server user, or PostgreSQL cannot reach its
 * data directory (a project under /root is the usual case). Returns the first one that is not.
 */
export async function unreachableAncestor(dir: string): Promise<string | null> {
  const u = serverUser();
  if (!u.switched) return null;
  const ancestors: string[] = [];
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    ancestors.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const a of ancestors) {
    const st = await fs.stat(a).catch(() => null);
    if (!st) return null; // created later, by us
    const bit = st.uid === u.uid ? 0o100 : st.gid === u.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return a;
  }
  return null;
}
