import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionSpec } from '../model/topology.js';

/**
 * A node's password when steep.yaml gives none, found where libpq finds it: PGPASSWORD, then
 * the password file (PGPASSFILE, else ~/.pgpass; its first line matching host, port, database
 * and user, `*` matching anything). Resolved once, while loading the file, so that steep's own
 * sessions and the subscriptions it creates use the same password, and so it is registered for
 * masking like any other.
 */
export type LibpqPassword =
  | { password: string; source: 'PGPASSWORD' | 'passfile' }
  | { password: undefined; ignoredPassfile?: string };

export function libpqPassword(spec: ConnectionSpec, env: NodeJS.ProcessEnv): LibpqPassword {
  if (env.PGPASSWORD !== undefined && env.PGPASSWORD !== '') {
    return { password: env.PGPASSWORD, source: 'PGPASSWORD' };
  }
  const file = env.PGPASSFILE || (env.HOME ? join(env.HOME, '.pgpass') : undefined);
  if (!file) return { password: undefined };
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return { password: undefined };
    // libpq ignores a password file that its group or others may read
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      return { password: undefined, ignoredPassfile: file };
    }
    text = readFileSync(file, 'utf8');
  } catch {
    return { password: undefined };
  }
  const wanted = [spec.host, String(spec.port), spec.database, spec.user];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = passfileFields(line);
    if (fields.length < 5) continue;
    if (wanted.every((w, i) => fields[i] === '*' || fields[i] === w)) {
      return { password: fields.slice(4).join(':'), source: 'passfile' };
    }
  }
  return { password: undefined };
}

/** `host:port:database:user:password`, `\:` and `\\` escaped. */
function passfileFields(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
    } else if (c === ':' && fields.length < 4) {
      fields.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  fields.push(current);
  return fields;
}
