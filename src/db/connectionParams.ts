import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse } from 'pg-connection-string';
import * as pgpass from 'pgpass/lib/helper.js';
import {
  CONNECTION_OPTION,
  LIBPQ_NAMES,
  SSL_FILES,
  TLS_OPTIONS,
  type TlsFile,
} from '../model/connectionOptions.js';
import type { ConnectionSpec } from '../model/topology.js';

/**
 * What libpq reads to reach a node, besides TLS (tls.ts): connection URLs, through
 * pg-connection-string, and the password file, through pgpass — the libraries `pg` brings.
 * Where they differ from libpq, libpq wins: a bad %-escape, a port out of range or several hosts
 * are refused, `dbname` and a %-escaped database name are read as libpq does, TLS file
 * parameters are paths taken as written (pg-connection-string would read the files), sslmode is
 * libpq's (tls.ts), and a short password file line counts.
 */

/** libpq's sslmode values (tls.ts: what each does). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

const TLS_PARAMS = new Set<string>(TLS_OPTIONS.map((o) => CONNECTION_OPTION[o].libpq));

/**
 * Query parameters steep understands: the options of model/connectionOptions.ts, and `passfile`,
 * read while loading the file (libpqPassword) and not carried further; any other is ignored with
 * a warning.
 */
const KNOWN_PARAMS = new Set<string>([...LIBPQ_NAMES, 'passfile']);

export interface ConnectionUrl extends Partial<Record<TlsFile, string>> {
  host?: string;
  hostaddr?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** the password as written in the URL (percent-encoded), to mask that form too */
  rawPassword?: string;
  sslmode?: string;
  /** the password file libpq reads when no password is given (instead of PGPASSFILE, ~/.pgpass) */
  passfile?: string;
  /** query parameters steep does not use */
  ignored: string[];
  /** query parameters libpq would act on and steep cannot (UNSUPPORTED_PARAMS), and how to name each */
  unsupported?: Array<{ param: string; shown: string }>;
}

/**
 * Parameters with which libpq and psql would connect otherwise, or refuse to connect, than steep
 * can: refused rather than ignored, in a url and as their `env` variable in steep's
 * environment. With `refused`, only those values (the others ask no more than steep does: libpq's
 * default among them), and the message shows the value; without, any value, never shown
 * (sslpassword's is a secret).
 */
export const UNSUPPORTED_PARAMS: Record<
  string,
  { why: string; hint: string; env?: string; refused?: (value: string) => boolean }
> = {
  channel_binding: {
    why: 'its own sessions and the subscriptions it creates would connect without channel binding, which libpq and psql refuse',
    hint: 'remove it; with sslmode=verify-full the server is authenticated by its certificate',
    env: 'PGCHANNELBINDING',
    refused: (v) => v === 'require',
  },
  sslpassword: {
    why: 'it reads no client key protected by a passphrase',
    hint: 'give sslkey a key without a passphrase (openssl pkey -in KEY -out KEY.plain, mode 0600)',
  },
  service: {
    why: 'it reads no pg_service.conf',
    hint: "write the service's host, port, dbname, user and TLS settings (sslmode, sslrootcert, sslcert, sslkey) in the url or the node's fields",
    env: 'PGSERVICE',
  },
  require_auth: {
    why: 'its sessions and the subscriptions it creates would take any authentication the server asks for, where libpq and psql refuse the others',
    hint: "remove it; choose the method in the server's pg_hba.conf, and authenticate the server with sslmode=verify-full",
    env: 'PGREQUIREAUTH',
  },
  sslcertmode: {
    why: 'it cannot require the server to ask for a client certificate, as libpq and psql do',
    hint: "remove it; the server's pg_hba.conf (clientcert=verify-full, or cert) makes it ask",
    env: 'PGSSLCERTMODE',
    refused: (v) => v === 'require',
  },
  target_session_attrs: {
    why: 'it does not pick or refuse a server by whether it takes writes or is a standby, as libpq does',
    hint: "remove it; name the primary as the node's host and its standbys under `standbys` (subscriptions then follow the one that takes writes)",
    env: 'PGTARGETSESSIONATTRS',
    refused: (v) => v !== 'any',
  },
  gssencmode: {
    why: 'it has no GSSAPI encryption, which libpq and psql would require',
    hint: 'use TLS instead: sslmode=verify-full',
    env: 'PGGSSENCMODE',
    refused: (v) => v === 'require',
  },
  requirepeer: {
    why: 'it does not check which operating system user runs the server, as libpq does over a Unix socket',
    hint: 'remove it, or connect over TCP with sslmode=verify-full',
    env: 'PGREQUIREPEER',
  },
  ssl_min_protocol_version: {
    why: 'its TLS connections, and the subscriptions it creates, accept TLS 1.2, which libpq and psql would refuse',
    hint: 'remove it, or make the server accept only TLS 1.3 (ssl_min_protocol_version there)',
    env: 'PGSSLMINPROTOCOLVERSION',
    refused: (v) => v === 'TLSv1.3',
  },
};

/** `param` or `param=value`, as a refusal names it (UNSUPPORTED_PARAMS), or undefined when `value` is not refused. */
export function refusedParam(param: string, value: string): string | undefined {
  const entry = UNSUPPORTED_PARAMS[param];
  if (entry === undefined || value === '' || (entry.refused && !entry.refused(value))) return undefined;
  return entry.refused ? `${param}=${value}` : param;
}

function unsupported(given: URLSearchParams): Array<{ param: string; shown: string }> {
  return [...new Set(given.keys())].flatMap((param) => {
    const shown = refusedParam(param, given.get(param) ?? '');
    return shown === undefined ? [] : [{ param, shown }];
  });
}

export type ParsedConnectionUrl =
  | { ok: true; url: ConnectionUrl }
  | { ok: false; problem: string; hint?: string };

const URL_SHAPE = /^(postgres|postgresql):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/;
const EXAMPLE = 'e.g. postgres://steep@east.internal:5432/app?sslmode=verify-full';

/** `postgres[ql]://[user[:password]@][host][:port][/database][?param=value&…]`, one host. */
export function parseConnectionUrl(text: string): ParsedConnectionUrl {
  const m = URL_SHAPE.exec(text.trim());
  if (!m) {
    const problem = /^[a-z]+\s*=/.test(text.trim())
      ? 'is a keyword=value string; steep needs a URL'
      : 'is not a postgres:// or postgresql:// URL';
    return { ok: false, problem, hint: EXAMPLE };
  }
  const [, , authority = '', path = '', query = ''] = m;
  const userInfo = authority.includes('@') ? authority.slice(0, authority.lastIndexOf('@')) : '';
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.includes(',')) {
    return { ok: false, problem: 'names several hosts; steep needs one host per node', hint: EXAMPLE };
  }
  const portText = /^(?:\[[^\]]*\]|[^:]*):(.+)$/.exec(hostPort)?.[1];
  if (portText !== undefined && parsePort(portText) === undefined) {
    return { ok: false, problem: `has port \`${portText}\`; a port is 1 to 65535` };
  }
  if (/%(?![0-9a-f]{2})/i.test(text))
    return { ok: false, problem: 'has a bad %-escape', hint: 'write % as %25' };

  const given = new URLSearchParams(query);
  const refused = unsupported(given);
  const url: ConnectionUrl = {
    ignored: [...new Set(given.keys())].filter(
      (k) => !KNOWN_PARAMS.has(k) && !refused.some((r) => r.param === k),
    ),
    ...(refused.length > 0 ? { unsupported: refused } : {}),
  };
  const sslmode = given.get('sslmode');
  if (sslmode !== null && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    return { ok: false, problem: `has sslmode \`${sslmode}\`; it must be one of ${SSL_MODES.join(', ')}` };
  }
  const port = given.get('port');
  if (port !== null && parsePort(port) === undefined) {
    return { ok: false, problem: `has port \`${port}\`; a port is 1 to 65535` };
  }
  const hostaddr = given.get('hostaddr');
  if (hostaddr !== null && isIP(hostaddr) === 0) {
    return {
      ok: false,
      problem: `has hostaddr \`${hostaddr}\`, which is not an IP address (libpq takes only one there)`,
      hint: 'put a host name in the host part of the url, or give hostaddr its IP address',
    };
  }
  const rest = new URLSearchParams(
    [...given].filter(([key]) => !TLS_PARAMS.has(key) && key !== 'hostaddr' && key !== 'passfile'),
  );
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(`postgres://${authority}${rest.size > 0 ? `?${rest}` : ''}`);
  } catch {
    return { ok: false, problem: 'is not a valid URL', hint: EXAMPLE };
  }
  if (parsed.host) url.host = parsed.host;
  if (hostaddr !== null) url.hostaddr = hostaddr;
  const passfile = given.get('passfile');
  if (passfile !== null && passfile !== '') url.passfile = passfile;
  if (parsed.port) url.port = Number(parsed.port);
  if (parsed.user) url.user = parsed.user;
  const rawPassword = given.has('password')
    ? (/(?:^|&)password=([^&]*)/.exec(query)?.[1] ?? '')
    : userInfo.includes(':')
      ? userInfo.slice(userInfo.indexOf(':') + 1)
      : undefined;
  if (rawPassword !== undefined) {
    url.rawPassword = rawPassword;
    url.password = parsed.password ?? '';
  }
  const database = given.get('dbname') ?? (path === '' ? undefined : decodeURIComponent(path));
  if (database !== undefined) url.database = database;
  if (sslmode !== null) url.sslmode = sslmode;
  for (const key of SSL_FILES) {
    const value = given.get(key);
    if (value !== null) url[key] = value;
  }
  return { ok: true, url };
}

/** 1..65535 from digits, else undefined. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * `postgres://user:password@host:port/database` for a connection. It contains the password when
 * the spec has one: print it only through db/mask.
 */
export function connectionUrl(spec: ConnectionSpec): string {
  const user = encodeURIComponent(spec.user);
  const auth = spec.password ? `${user}:${encodeURIComponent(spec.password)}` : user;
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  const params = new URLSearchParams();
  if (spec.hostaddr) params.set('hostaddr', spec.hostaddr);
  if (spec.sslmode) params.set('sslmode', spec.sslmode);
  const query = params.size > 0 ? `?${params}` : '';
  return `postgres://${auth}@${host}:${spec.port}/${encodeURIComponent(spec.database)}${query}`;
}

/**
 * A node's password when steep.yaml gives none, found where libpq finds it: PGPASSWORD, then
 * the password file (the url's `passfile`, else PGPASSFILE, else ~/.pgpass; its first line
 * matching host, port, database and user, `*` matching anything; ignored when group or others
 * may read it). Resolved once,
 * while loading the file, so that steep's own sessions and the subscriptions it creates use the
 * same password.
 */
export type LibpqPassword =
  | { password: string; source: 'PGPASSWORD' | 'passfile' }
  | { password: undefined; ignoredPassfile?: string };

export function libpqPassword(
  spec: ConnectionSpec,
  given: NodeJS.ProcessEnv,
  passfile?: string,
): LibpqPassword {
  if (given.PGPASSWORD !== undefined && given.PGPASSWORD !== '') {
    return { password: given.PGPASSWORD, source: 'PGPASSWORD' };
  }
  // a url's passfile wins over PGPASSFILE
  const env = passfile === undefined ? given : { ...given, PGPASSFILE: passfile };
  // pgpass would read ./.pgpass without HOME
  if (!env.PGPASSFILE && !env.HOME && process.platform !== 'win32') return { password: undefined };
  const file = pgpass.getFileName(env);
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return { password: undefined };
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      return { password: undefined, ignoredPassfile: file };
    }
    text = readFileSync(file, 'utf8');
  } catch {
    return { password: undefined };
  }
  for (const line of text.split(/\r?\n/)) {
    // libpq skips a line that starts with #; pgpass only one indented before it
    if (line.startsWith('#')) continue;
    // pgpass skips a line under 11 characters (`*:*:*:*:pw`), libpq does not: padded, then cut
    const entry = pgpass.parseLine(line.padEnd(11, '\0'));
    if (entry === null) continue;
    entry.password = entry.password.replace(/\0+$/, '');
    if (pgpass.isValidEntry(entry) && pgpass.match(spec, entry)) {
      return { password: entry.password, source: 'passfile' };
    }
  }
  return { password: undefined };
}
