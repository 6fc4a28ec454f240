/**
 * libpq connection URLs: `postgres[ql]://[user[:password]@][host][:port][/database][?param=value&…]`,
 * percent-decoded. One host only (steep builds a subscription's connection string from it).
 */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** libpq's TLS file parameters: paths, taken as written. */
export const SSL_FILES = ['sslrootcert', 'sslcert', 'sslkey', 'sslcrl'] as const;
export type SslFile = (typeof SSL_FILES)[number];

/** Query parameters steep understands; any other is ignored with a warning. */
const KNOWN_PARAMS = new Set(['host', 'port', 'dbname', 'user', 'password', 'sslmode', ...SSL_FILES]);

export interface ConnectionUrl {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** the password as written in the URL (percent-encoded), to mask that form too */
  rawPassword?: string;
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  sslcrl?: string;
  /** query parameters steep does not use */
  ignored: string[];
}

export type ParsedConnectionUrl =
  | { ok: true; url: ConnectionUrl }
  | { ok: false; problem: string; hint?: string };

const URL_SHAPE = /^(postgres|postgresql):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/;
const EXAMPLE = 'e.g. postgres://steep@east.internal:5432/app?sslmode=verify-full';

export function parseConnectionUrl(text: string): ParsedConnectionUrl {
  const m = URL_SHAPE.exec(text.trim());
  if (!m) {
    const problem = /^[a-z]+\s*=/.test(text.trim())
      ? 'is a keyword=value string; steep needs a URL'
      : 'is not a postgres:// or postgresql:// URL';
    return { ok: false, problem, hint: EXAMPLE };
  }
  const [, , authority = '', path, query] = m;
  const url: ConnectionUrl = { ignored: [] };
  try {
    const at = authority.lastIndexOf('@');
    const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
    if (at >= 0) {
      const userInfo = authority.slice(0, at);
      const colon = userInfo.indexOf(':');
      const user = colon >= 0 ? userInfo.slice(0, colon) : userInfo;
      if (user) url.user = decodeURIComponent(user);
      if (colon >= 0) {
        url.rawPassword = userInfo.slice(colon + 1);
        url.password = decodeURIComponent(url.rawPassword);
      }
    }
    if (hostPort.includes(',')) {
      return { ok: false, problem: 'names several hosts; steep needs one host per node', hint: EXAMPLE };
    }
    const hp = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostPort);
    const host = hp?.[1] ?? '';
    if (host) url.host = host.startsWith('[') ? host.slice(1, -1) : decodeURIComponent(host);
    if (hp?.[2] !== undefined && hp[2] !== '') {
      const port = parsePort(hp[2]);
      if (port === undefined) return { ok: false, problem: `has port \`${hp[2]}\`; a port is 1 to 65535` };
      url.port = port;
    }
    if (path) url.database = decodeURIComponent(path);
    for (const pair of (query ?? '').split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decodeURIComponent(eq >= 0 ? pair.slice(0, eq) : pair);
      const value = decodeURIComponent((eq >= 0 ? pair.slice(eq + 1) : '').replace(/\+/g, ' '));
      if (!KNOWN_PARAMS.has(key)) {
        url.ignored.push(key);
        continue;
      }
      const problem = applyParam(url, key, value);
      if (problem) return { ok: false, problem };
      if (key === 'password') url.rawPassword = eq >= 0 ? pair.slice(eq + 1) : '';
    }
  } catch (e) {
    if (e instanceof URIError) return { ok: false, problem: 'has a bad %-escape', hint: 'write % as %25' };
    throw e;
  }
  return { ok: true, url };
}

function applyParam(url: ConnectionUrl, key: string, value: string): string | undefined {
  switch (key) {
    case 'host':
      url.host = value;
      return undefined;
    case 'port': {
      const port = parsePort(value);
      if (port === undefined) return `has port \`${value}\`; a port is 1 to 65535`;
      url.port = port;
      return undefined;
    }
    case 'dbname':
      url.database = value;
      return undefined;
    case 'user':
      url.user = value;
      return undefined;
    case 'password':
      url.password = value;
      return undefined;
    case 'sslmode':
      if (!(SSL_MODES as readonly string[]).includes(value)) {
        return `has sslmode \`${value}\`; it must be one of ${SSL_MODES.join(', ')}`;
      }
      url.sslmode = value;
      return undefined;
    default:
      url[key as SslFile] = value;
      return undefined;
  }
}

/** 1..65535 from digits, else undefined. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}
