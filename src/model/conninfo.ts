import { CONNECTION_OPTION, TLS_OPTIONS } from './connectionOptions.js';
import { compareText } from './order.js';
import type { ConnectionSpec, NodeSpec } from './topology.js';

export const MASK = '****';

/** Quote a libpq keyword/value pair value: single quotes and backslashes escaped, always quoted when needed. */
function conninfoValue(v: string): string {
  if (v !== '' && /^[^\s'\\]+$/.test(v)) return v;
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The libpq keyword/value connection string a subscriber uses to reach a publisher.
 * With `maskPassword`, the password is shown as ****: that form is what plans display and save.
 */
export function buildConninfo(
  spec: ConnectionSpec,
  opts: { passfile?: string; maskPassword?: boolean; standbys?: readonly ConnectionSpec[] } = {},
): string {
  // with standbys: every host (libpq multi-host), and only the one that accepts writes, so a
  // subscription follows the primary through a failover
  const hosts = [spec, ...(opts.standbys ?? [])];
  const multi = hosts.length > 1;
  const parts: Array<[string, string | undefined]> = [
    ['host', hosts.map((h) => h.host).join(',')],
    // libpq: one hostaddr per host, an empty one looking its host up
    ['hostaddr', hosts.some((h) => h.hostaddr) ? hosts.map((h) => h.hostaddr ?? '').join(',') : undefined],
    ['port', hosts.map((h) => h.port).join(',')],
    ['dbname', spec.database],
    ['user', spec.user],
    ['password', opts.passfile ? undefined : spec.password && (opts.maskPassword ? MASK : spec.password)],
    ['passfile', opts.passfile],
    // the TLS mode, and paths on the subscriber's server, whose libpq reads them: as written
    ...TLS_OPTIONS.map((o): [string, string | undefined] => [CONNECTION_OPTION[o].libpq, spec[o]]),
    ['target_session_attrs', multi ? 'read-write' : undefined],
  ];
  return formatConninfo(parts.filter((p): p is [string, string] => p[1] !== undefined && p[1] !== ''));
}

/**
 * How a subscriber reaches `node`: its replication connection (or its own), its passfile, and
 * with `withStandbys` (the default) every standby too, read-write only. What plans show with `maskPassword`.
 */
export function publisherConninfo(
  node: NodeSpec,
  opts: { maskPassword?: boolean; withStandbys?: boolean } = {},
): string {
  return buildConninfo(node.replicationConnection ?? node.connection, {
    passfile: node.replicationPassfile,
    maskPassword: opts.maskPassword,
    standbys: opts.withStandbys === false ? undefined : node.standbys,
  });
}

/**
 * Parse a libpq connection string — keyword/value (`host=a port=5432 password='x y'`) or URI
 * (`postgresql://user:pw@host:5432/db?sslmode=require`) — into keyword → value. Lenient: a
 * malformed fragment is skipped rather than thrown, since the input comes from a catalog.
 */
export function parseConninfo(conninfo: string): Record<string, string> {
  const text = conninfo.trim();
  return /^postgres(ql)?:\/\//i.test(text) ? parseConninfoUri(text) : parseConninfoKeywords(text);
}

function parseConninfoKeywords(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  // keyword = value, the value bare or single-quoted, a backslash taking the next character as
  // it is; a keyword without a value (libpq rejects it) is skipped
  for (const [, key, quoted, bare] of text.matchAll(
    /\s*([^=\s]*)\s*(?:=\s*(?:'((?:\\.|[^'\\])*\\?)'?|((?:\\.|[^\s\\])*\\?)))?/gs,
  )) {
    const value = quoted ?? bare;
    if (key && value !== undefined) out[key] = value.replace(/\\(.)/gs, '$1');
  }
  return out;
}

function parseConninfoUri(text: string): Record<string, string> {
  if (!URL.canParse(text)) return {};
  const url = new URL(text);
  const out: Record<string, string> = {};
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (url.hostname) out.host = decode(url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if (url.port) out.port = url.port;
  const db = url.pathname.replace(/^\//, '');
  if (db) out.dbname = decode(db);
  if (url.username) out.user = decode(url.username);
  if (url.password) out.password = decode(url.password);
  for (const [k, v] of url.searchParams) out[k] = v;
  return out;
}

/** keyword and value pairs as a keyword/value connection string, in their order. */
function formatConninfo(fields: [string, string][]): string {
  return fields.map(([k, v]) => `${k}=${conninfoValue(v)}`).join(' ');
}

/** The connection string with its password (if any) shown as ****, as keyword/value. */
export function maskConninfo(conninfo: string): string {
  const fields = parseConninfo(conninfo);
  if (fields.password !== undefined) fields.password = MASK;
  return formatConninfo(Object.entries(fields));
}

/** Two connection strings name the same keywords with the same values (order and format aside). */
export function sameConninfo(a: string, b: string): boolean {
  const fields = (c: string) =>
    JSON.stringify(Object.entries(parseConninfo(c)).sort(([x], [y]) => compareText(x, y)));
  return fields(a) === fields(b);
}
