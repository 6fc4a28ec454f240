import { isIP } from 'node:net';
import {
  type ConnectionUrl,
  libpqPassword,
  parseConnectionUrl,
  parsePort,
  refusedParam,
  UNSUPPORTED_PARAMS,
} from '../db/connectionParams.js';
import { registerSecret } from '../db/mask.js';
import {
  CONNECTION_OPTION,
  CONNECTION_OPTIONS,
  LIBPQ_NAMES,
  TLS_OPTIONS,
} from '../model/connectionOptions.js';
import type { ConnectionSpec, NodeSpec } from '../model/topology.js';
import { MIN_SERVER_VERSION, majorVersion } from '../model/versions.js';
import type { NormaliseContext as Context } from './normalise.js';
import { describeObject, fieldOf, type Path, withOwner } from './paths.js';
import { parseServerVersion } from './versions.js';

export const DEFAULT_PORT = 5432;
export const DEFAULT_HOST = 'localhost';
export const DEFAULT_PRIORITY = 100;

/** The node fields that describe a connection, given instead of `url` (a password may go beside it). */
const CONNECTION_FIELDS = CONNECTION_OPTIONS.filter((o) => CONNECTION_OPTION[o].kind !== 'secret');

/** The URL parameters steep uses, for the warning about one it does not. */
const USED = `${LIBPQ_NAMES.join(', ')} and passfile`;

/**
 * libpq's environment variables that would make psql connect otherwise, or refuse to, than
 * steep can (UNSUPPORTED_PARAMS' `env`): refused rather than ignored, as in a url. PGSERVICE
 * would make psql take a service's settings (a `sslmode=verify-ca` among them) for every node;
 * PGSERVICEFILE alone names no service, and libpq reads it only for one: a warning.
 */
export function checkLibpqEnvironment(ctx: Context): void {
  const where = ctx.positions.key(['nodes']);
  for (const [param, { env, why, hint }] of Object.entries(UNSUPPORTED_PARAMS)) {
    const value = env === undefined ? undefined : ctx.env[env];
    if (env === undefined || value === undefined || refusedParam(param, value) === undefined) continue;
    ctx.problems.error(
      'environment-unsupported',
      `${env} is set in the environment (\`${value}\`), which steep does not support: ${why}`,
      where,
      `unset ${env}; ${hint}`,
    );
  }
  if (ctx.env.PGSERVICEFILE && !ctx.env.PGSERVICE) {
    ctx.problems.warning(
      'environment-ignored',
      'PGSERVICEFILE is set in the environment but no service is named; steep reads no service file, as libpq reads none then',
      where,
      'unset PGSERVICEFILE',
    );
  }
}

/** A node: its connection from `url` or from the fields, with libpq's defaults. */
export function normaliseNode(ctx: Context, name: string): NodeSpec {
  const { reader } = ctx;
  const base = ['nodes', name];
  const connection = nodeConnection(ctx, name);
  const node: NodeSpec = {
    name,
    connection,
    priority: reader.integer([...base, 'priority']) ?? DEFAULT_PRIORITY,
    sandbox: reader.boolean([...base, 'sandbox']) ?? false,
  };
  if (reader.string([...base, 'replicationUrl']) !== undefined) {
    const replication = readUrl(ctx, [...base, 'replicationUrl']);
    if (replication) {
      node.replicationConnection = replicationConnection(replication, connection);
      if (node.replicationConnection.password === undefined)
        passwordFromLibpq(ctx, name, node.replicationConnection, replication.passfile);
    }
  }
  const standbys = reader.list([...base, 'standbys']);
  if (standbys !== undefined) {
    node.standbys = standbys.map((_, i) => standbyConnection(ctx, [...base, 'standbys', i], connection));
  }
  const passfile = reader.string([...base, 'replicationPassfile']);
  if (passfile !== undefined) node.replicationPassfile = passfile;
  const version = declaredServerVersion(ctx, name);
  if (version !== undefined) node.serverVersion = version;
  return node;
}

/**
 * How steep connects to the node: `url` or the fields, libpq's defaults, the password from the
 * file or as libpq finds it.
 */
function nodeConnection(ctx: Context, name: string): ConnectionSpec {
  const hint =
    'put it in the url, e.g. ?sslmode=verify-full, or give host, port, database and user instead of the url';
  const given = givenConnection(ctx, ['nodes', name], hint, true);
  const env = environmentDefaults(ctx, name, given);
  const hostaddr = given.hostaddr ?? env.hostaddr;
  const defaults = {
    host: env.host ?? hostaddr ?? DEFAULT_HOST,
    port: env.port ?? DEFAULT_PORT,
    database: ctx.env.PGDATABASE ?? 'postgres',
    user: ctx.env.PGUSER ?? 'postgres',
  };
  const connection = replicationConnection({ ...given, hostaddr }, defaults);
  if (connection.password === undefined) passwordFromLibpq(ctx, name, connection, given.passfile);
  return connection;
}

/**
 * libpq's defaults from the environment for where to connect, as psql takes them: PGHOST,
 * PGPORT and PGHOSTADDR (the address even when the node names its host); a hostaddr without a
 * host is the host too (libpq then checks certificates and the password file against it). A
 * value libpq would refuse, or several hosts, is an error naming the variable, where the node
 * leaves the field to it.
 */
function environmentDefaults(
  ctx: Context,
  name: string,
  given: ConnectionUrl,
): { host?: string; hostaddr?: string; port?: number } {
  const refuse = (variable: string, problem: string, hint: string) =>
    ctx.problems.error(
      'invalid-value',
      `node \`${name}\`: ${variable} \`${ctx.env[variable]}\` in the environment ${problem}`,
      ctx.positions.key(['nodes', name]),
      hint,
    );
  const out: { host?: string; hostaddr?: string; port?: number } = {};
  const unset = (variable: string, field: keyof ConnectionUrl) =>
    given[field] === undefined ? ctx.env[variable] || undefined : undefined;
  const [host, hostaddr, port] = [
    unset('PGHOST', 'host'),
    unset('PGHOSTADDR', 'hostaddr'),
    unset('PGPORT', 'port'),
  ];
  if (host?.includes(',')) {
    refuse(
      'PGHOST',
      'names several hosts; steep needs one host per node',
      "unset PGHOST, or give the node's host",
    );
  } else if (host) out.host = host;
  if (hostaddr && isIP(hostaddr) === 0) {
    refuse(
      'PGHOSTADDR',
      'is not an IP address, which libpq refuses',
      'unset PGHOSTADDR, or set it to the IP address to connect to',
    );
  } else if (hostaddr) out.hostaddr = hostaddr;
  if (port && parsePort(port) === undefined) {
    refuse('PGPORT', 'is not a port (1 to 65535)', "unset PGPORT, or give the node's port");
  } else if (port) out.port = parsePort(port);
  return out;
}

/** `serverVersion`, when the file declares a supported one (a problem otherwise). */
function declaredServerVersion(ctx: Context, name: string): number | undefined {
  const { reader, positions, problems } = ctx;
  const base = ['nodes', name];
  const declared = reader.get([...base, 'serverVersion']);
  if (declared === undefined) return undefined;
  const version = parseServerVersion(declared);
  if (version === undefined) {
    problems.error(
      'invalid-value',
      `node \`${name}\`: \`serverVersion\` must be a PostgreSQL version like 14, "18.4" or 180004`,
      positions.value([...base, 'serverVersion']),
    );
    return undefined;
  }
  if (version < MIN_SERVER_VERSION) {
    problems.error(
      'version-unsupported',
      `node \`${name}\`: PostgreSQL ${majorVersion(version)} is not supported; steep needs PostgreSQL ${majorVersion(MIN_SERVER_VERSION)} or later`,
      positions.value([...base, 'serverVersion']),
    );
    return undefined;
  }
  return version;
}

/**
 * No password in the file: take it from PGPASSWORD or the password file as libpq would, so the
 * subscriptions steep creates carry it too (the subscriber's server cannot see this process's
 * environment or files), and register it for masking.
 */
function passwordFromLibpq(ctx: Context, name: string, spec: ConnectionSpec, passfile?: string): void {
  const found = libpqPassword(spec, ctx.env, passfile);
  if (found.password !== undefined) {
    registerSecret(found.password);
    spec.password = found.password;
  } else if (found.ignoredPassfile) {
    ctx.problems.warning(
      'passfile-ignored',
      `node \`${name}\`: the password file ${found.ignoredPassfile} may be read by group or others, so it is ignored (as libpq does)`,
      ctx.positions.key(['nodes', name]),
      `chmod 600 ${found.ignoredPassfile}`,
    );
  }
}

/**
 * How subscribers reach a node: what replicationUrl (or a standby) leaves out comes from the
 * node's own connection; its password too, but only for the same user, and its hostaddr only
 * with its host (an address belongs to its host name). With libpq's defaults as `own`, the
 * node's own connection.
 */
function replicationConnection(url: ConnectionUrl, own: ConnectionSpec): ConnectionSpec {
  const spec: ConnectionSpec = {
    host: url.host ?? own.host,
    port: url.port ?? own.port,
    database: url.database ?? own.database,
    user: url.user ?? own.user,
  };
  const hostaddr = url.hostaddr ?? (url.host === undefined ? own.hostaddr : undefined);
  if (hostaddr !== undefined) spec.hostaddr = hostaddr;
  const password = url.password ?? (spec.user === own.user ? own.password : undefined);
  if (password !== undefined) spec.password = password;
  for (const field of TLS_OPTIONS) {
    const value = url[field] ?? own[field];
    if (value !== undefined) spec[field] = value;
  }
  return spec;
}

/**
 * One of a node's standbys: a URL, or a mapping of `url` or the connection fields; what it leaves
 * out comes from the node's own connection (its password only for the same user).
 */
function standbyConnection(ctx: Context, path: Path, own: ConnectionSpec): ConnectionSpec {
  if (typeof ctx.reader.get(path) === 'string') {
    const url = readUrl(ctx, path);
    return url ? replicationConnection(url, own) : { ...own };
  }
  const hint = 'put it in the url, or give host, port, database and user instead of the url';
  return replicationConnection(givenConnection(ctx, path, hint, false), own);
}

/**
 * What the mapping at `path` gives of a connection: `url` or the fields (never both: `hint` says
 * what to do), undefined where it gives nothing, its passwords registered for masking. `node`: a
 * node's own mapping, where a url that does not parse still refuses the fields beside it and a
 * password in both `url` and `password` is an error.
 */
function givenConnection(ctx: Context, path: Path, hint: string, node: boolean): ConnectionUrl {
  const { reader, positions, problems } = ctx;
  const urlText = reader.string([...path, 'url']);
  const url = urlText === undefined ? undefined : readUrl(ctx, [...path, 'url']);
  if (node ? urlText !== undefined : url !== undefined) fieldsBesideUrl(ctx, path, hint);
  const password = reader.string([...path, 'password']);
  registerSecret(password);
  if (node && password !== undefined && url?.password !== undefined) {
    problems.error(
      'password-twice',
      withOwner([...path, 'password'], 'the password is given both in `url` and in `password`'),
      positions.key([...path, 'password']),
      `keep one, preferably \`password: \${env:NAME}\``,
    );
  }
  const given: ConnectionUrl = {
    ignored: [],
    ...url,
    host: url?.host ?? reader.string([...path, 'host']),
    hostaddr: url?.hostaddr ?? hostaddrField(ctx, [...path, 'hostaddr']),
    port: url?.port ?? port(ctx, [...path, 'port']),
    database: url?.database ?? reader.string([...path, 'database']),
    user: url?.user ?? reader.string([...path, 'user']),
    password: password ?? url?.password,
  };
  for (const field of TLS_OPTIONS) given[field] = url?.[field] ?? reader.string([...path, field]);
  return given;
}

/** The connection fields given beside `url` in the mapping at `path`, each refused. */
function fieldsBesideUrl(ctx: Context, path: Path, hint: string): void {
  for (const field of CONNECTION_FIELDS) {
    if (ctx.reader.mapping(path)?.[field] !== undefined) {
      ctx.problems.error(
        'url-and-fields',
        `${describeObject(path)}: \`${field}\` cannot be combined with \`url\``,
        ctx.positions.key([...path, field]),
        hint,
      );
    }
  }
}

function readUrl(ctx: Context, path: Path): ConnectionUrl | undefined {
  const parsed = parseConnectionUrl(ctx.reader.string(path) ?? '');
  if (!parsed.ok) {
    ctx.problems.error(
      'bad-url',
      withOwner(path, `${fieldOf(path)} ${parsed.problem}`),
      ctx.positions.value(path),
      parsed.hint,
    );
    return undefined;
  }
  registerSecret(parsed.url.password);
  registerSecret(parsed.url.rawPassword);
  for (const { param, shown } of parsed.url.unsupported ?? []) {
    const { why, hint } = UNSUPPORTED_PARAMS[param]!;
    ctx.problems.error(
      'url-parameter-unsupported',
      withOwner(path, `${fieldOf(path)} parameter \`${shown}\` is not supported by steep: ${why}`),
      ctx.positions.value(path),
      hint,
    );
  }
  for (const param of parsed.url.ignored) {
    ctx.problems.warning(
      'url-parameter-ignored',
      withOwner(path, `${fieldOf(path)} parameter \`${param}\` is not used by steep`),
      ctx.positions.value(path),
      `steep uses ${USED}`,
    );
  }
  return parsed.url;
}

/** A `hostaddr` field: an IP address, as libpq takes only that. */
function hostaddrField(ctx: Context, path: Path): string | undefined {
  const value = ctx.reader.string(path);
  if (value === undefined || isIP(value) !== 0) return value;
  ctx.problems.error(
    'invalid-value',
    withOwner(path, `\`hostaddr\` \`${value}\` is not an IP address (libpq takes only one there)`),
    ctx.positions.value(path),
    'give the host name as `host`, and hostaddr its IP address',
  );
  return undefined;
}

function port(ctx: Context, path: Path): number | undefined {
  const value = ctx.reader.get(path);
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const parsed = parsePort(value);
  if (parsed === undefined) {
    ctx.problems.error(
      'invalid-value',
      withOwner(path, '`port` must be a port number (1 to 65535)'),
      ctx.positions.value(path),
    );
  }
  return parsed;
}
