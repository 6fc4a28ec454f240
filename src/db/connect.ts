import pg from 'pg';
import { SteepError } from '../model/errors.js';
import type { ConnectionSpec, Topology } from '../model/topology.js';
import { sessionsBound } from './connectionLimit.js';
import { mask } from './mask.js';
import { ReadBufferSocket } from './readBufferSocket.js';
import { type SessionSettings, startupSettings } from './session.js';
import { describeTlsError, type TlsAttempt, tlsAttempts, triesNext } from './tls.js';

export const APPLICATION_NAME = 'steep';
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectOptions extends SessionSettings {
  /** node name, for error messages */
  node: string;
  connectTimeoutMs?: number;
  applicationName?: string;
  /** replication: 'database' for a walsender connection (exported snapshots) */
  replication?: 'database';
  /** node-postgres pipeline mode: queries issued together go out back to back (one round trip) */
  pipeline?: boolean;
  /** client-side limit per query, for a server that stops answering altogether */
  queryTimeoutMs?: number;
  /**
   * a session that reads COPY data in bulk: one read buffer, reused (readBufferSocket.ts); not
   * with TLS, whose socket node-postgres makes itself
   */
  reuseReadBuffer?: boolean;
}

/**
 * pg.Client config, libpq conventions: PGPASSWORD and ~/.pgpass apply when no password is given;
 * `ssl` one of the attempts of `tlsAttempts` (db/tls.ts), by default the first.
 */
export function clientConfig(
  spec: ConnectionSpec,
  opts: ConnectOptions,
  ssl: TlsAttempt = tlsAttempts(opts.node, spec)[0]!,
): pg.ClientConfig {
  const config: pg.ClientConfig & { replication?: string } = {
    // libpq's hostaddr: connect there, the host name staying the server's for TLS (db/tls.ts)
    host: spec.hostaddr ?? spec.host,
    port: spec.port,
    database: spec.database,
    user: spec.user,
    password: spec.password,
    ssl,
    application_name: opts.applicationName ?? APPLICATION_NAME,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...startupSettings(opts),
  };
  if (opts.replication) config.replication = opts.replication;
  if (opts.pipeline) config.pipeline = true;
  if (opts.queryTimeoutMs) config.query_timeout = opts.queryTimeoutMs;
  if (opts.reuseReadBuffer && config.ssl === false) config.stream = () => new ReadBufferSocket();
  return config;
}

/** host:port, and the hostaddr connected to when there is one. */
function address(spec: ConnectionSpec): string {
  return `${spec.host}:${spec.port}${spec.hostaddr ? ` (hostaddr ${spec.hostaddr})` : ''}`;
}

/** One sentence naming the node and the cause, without secrets. */
export function describeConnectError(
  node: string,
  spec: ConnectionSpec,
  err: unknown,
  connectTimeoutMs?: number,
): string {
  const e = err as { code?: string; message?: string };
  const where = `${address(spec)}/${spec.database} as ${spec.user}`;
  // an sslkey protected by a passphrase: OpenSSL cannot read it without one, and steep takes none
  if (/bad decrypt|PEM routines|DECODER routines::unsupported/i.test(e.message ?? ''))
    return `node ${node}: the client key ${spec.sslkey ?? '(PGSSLKEY or ~/.postgresql/postgresql.key)'} could not be read (${mask(e.message ?? '')}): it is protected by a passphrase, and steep takes no sslpassword; give sslkey a key without one (openssl pkey -in KEY -out KEY.plain, mode 0600)`;
  // node-postgres's words for libpq's "fe_sendauth: no password supplied"
  if (/client password must be a (non-empty )?string/.test(e.message ?? ''))
    return `node ${node}: the server at ${where} asks for a password and none was found; give the node a password (\`password: \${env:NAME}\`), PGPASSWORD, or a line for it in the password file (the url's passfile, PGPASSFILE or ~/.pgpass, mode 0600)`;
  const tlsProblem = describeTlsError(node, spec, where, err);
  if (tlsProblem) return mask(tlsProblem);
  const seconds = `${(connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000}s`;
  const timedOut = `node ${node}: connection to ${where} timed out after ${seconds}; nothing answered: check the host and port, and that no firewall drops the connection (or raise settings.connectTimeout)`;
  // a port that accepts and then closes without a word: no PostgreSQL server answers there
  if (e.message === 'Connection terminated unexpectedly' || e.code === 'ECONNRESET' || e.code === 'EPIPE') {
    return `node ${node}: ${address(spec)} closed the connection before PostgreSQL answered (within the ${seconds} connect timeout); check that a PostgreSQL server listens there, not a proxy, load balancer or port forward with nothing behind it, and that no firewall cuts the connection`;
  }
  switch (e.code) {
    case 'ECONNREFUSED':
      return `node ${node}: connection refused at ${where}; is the server running and listening there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `node ${node}: host ${spec.host} not found; check the node's host`;
    case 'ETIMEDOUT':
      return timedOut;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `node ${node}: ${address(spec)} is unreachable from this machine (${e.code}: no network route to it); check the node's host, and the VPN, routing or firewall between here and there`;
    case '28P01':
      return `node ${node}: password authentication failed for user ${spec.user}; check the password (${where})`;
    case '28000': {
      const message = mask(e.message ?? '');
      // pg_hba.conf: a hostnossl … reject line, or only hostssl lines, for this client
      const tlsOnly = /no encryption/.test(message)
        ? '; the server accepts this client only over TLS: use sslmode require or stricter'
        : '';
      const certificate = /certificate/.test(message) ? '; give the node sslcert and sslkey' : '';
      return `node ${node}: authentication rejected for ${where}: ${message}${tlsOnly}${certificate}`;
    }
    case '3D000':
      return `node ${node}: database ${spec.database} does not exist on ${address(spec)}; check the node's database`;
    default:
      if (/timeout/i.test(e.message ?? '')) return timedOut;
      return `node ${node}: cannot connect to ${where}: ${mask(e.message ?? String(err))}`;
  }
}

const NO_TLS = 'The server does not support SSL connections';

/**
 * Servers (host:port) that answered this process's TLS request with "no": under `prefer` the
 * next session there starts plain, TLS still following if plain is refused. libpq asks again
 * each time, on the same socket; node-postgres cannot go on after the refusal, so each `prefer`
 * session to such a server cost a second connection (34 of 114 ms per session under load 12).
 */
const refusedTls = new Set<string>();

function plainFirstWhereRefused(server: string, attempts: TlsAttempt[]): TlsAttempt[] {
  return refusedTls.has(server) && attempts.length === 2 && attempts[1] === false
    ? [false, attempts[0]!]
    : attempts;
}

/**
 * A connected client, after the attempts libpq would make (db/tls.ts: `prefer` falls back to plain,
 * `allow` to TLS, when the server refuses the first).
 */
export async function connect(spec: ConnectionSpec, opts: ConnectOptions): Promise<pg.Client> {
  if (opts.replication || opts.reuseReadBuffer) return connectNew(spec, opts);
  const key = JSON.stringify(spec);
  const taken = await takeKept(key, opts);
  if (taken) return taken;
  // a session that may be kept sets its timeouts with a query (reset by DISCARD ALL), not in
  // its startup message (which DISCARD ALL would reset them to)
  const { statementTimeoutMs, lockTimeoutMs, idleInTransactionTimeoutMs, ...rest } = opts;
  const client = await connectCounted(spec, rest);
  try {
    await setUp(client, opts, false);
  } catch (err) {
    await client.end().catch(() => {});
    throw new SteepError('connect', `node ${opts.node}: ${mask((err as Error).message)}`, {
      node: opts.node,
      cause: err,
    });
  }
  keys.set(client, key);
  return client;
}

async function connectNew(spec: ConnectionSpec, opts: ConnectOptions): Promise<pg.Client> {
  const failures: Array<{ ssl: TlsAttempt; err: unknown }> = [];
  const server = address(spec);
  for (const ssl of plainFirstWhereRefused(server, tlsAttempts(opts.node, spec))) {
    const client = new pg.Client(clientConfig(spec, opts, ssl));
    // an idle connection that breaks must not crash the process; the next query reports it
    client.on('error', () => {});
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      failures.push({ ssl, err });
      if (ssl !== false && (err as Error).message === NO_TLS) refusedTls.add(server);
      if (!triesNext(err)) break;
    }
  }
  // the TLS attempt's reason, unless the server refused TLS altogether
  const shown =
    failures.find((f) => f.ssl !== false && (f.err as Error).message !== NO_TLS) ??
    failures.find((f) => f.ssl === false) ??
    failures[0]!;
  throw new SteepError('connect', describeConnectError(opts.node, spec, shown.err, opts.connectTimeoutMs), {
    node: opts.node,
    cause: shown.err,
  });
}

/** A session on `node` of the file, with the file's connect timeout. */
export function nodeSession(
  topology: Topology,
  node: string,
  applicationName: string,
  opts: Omit<ConnectOptions, 'node' | 'applicationName'> = {},
): Promise<pg.Client> {
  return connect(topology.nodes[node]!.connection, {
    node,
    applicationName,
    connectTimeoutMs: topology.settings.connectTimeout,
    ...opts,
  });
}

/** Run `fn` with the session `opened` gives (`connect(…)`, a catalog session), always closed afterwards. */
export async function withSession<T>(
  opened: Promise<pg.Client>,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await opened;
  try {
    return await fn(client);
  } finally {
    await keep(client);
  }
}

/**
 * `fn` on a session of node `name`: the one the caller holds (apply's locked ones: a connection
 * per node saved), else one opened for it and handed back.
 */
export async function onNodeSession<T>(
  topology: Topology,
  name: string,
  sessions: ReadonlyMap<string, pg.Client> | undefined,
  fn: (client: pg.Client) => Promise<T>,
  applicationName = 'steep',
): Promise<T> {
  const own = sessions?.get(name);
  return own ? fn(own) : withSession(nodeSession(topology, name, applicationName), fn);
}

// ---- sessions kept for the next one ---------------------------------------------------------

/**
 * A new session counted among those open, after closing the kept sessions (oldest first) that
 * would take it past the bound (settings.maxConnections): a fleet of many databases on one
 * server keeps at most that many sessions open at once, not one per database it read.
 */
async function connectCounted(spec: ConnectionSpec, opts: ConnectOptions): Promise<pg.Client> {
  const closing: Array<Promise<void>> = [];
  for (const [key, client] of kept) {
    if (open.size + opening - closing.length < sessionsBound()) break;
    kept.delete(key);
    closing.push(closeKept(client));
  }
  opening++;
  try {
    await Promise.all(closing);
    const client = await connectNew(spec, opts);
    open.add(client);
    client.once('end', () => open.delete(client));
    return client;
  } finally {
    opening--;
  }
}

/**
 * A command reads a node in several steps (its catalog, continuity, live status), each in a
 * session of its own, and a new session costs the server a process, an authentication and cold
 * catalog caches (about half of the CPU a `steep plan` of two nodes cost, counted per process).
 * So a session `withSession` is done with is reset as a new one (`DISCARD ALL`: no setting,
 * lock, temporary table or open transaction survives; one in a failed state, or with a query
 * still running, is closed) and kept for the next `connect` to the same server as the same user,
 * which takes it with its own application name, timeouts and query mode. One per server is
 * kept, and none past the bound on sessions open at once (`connectCounted`); a kept session
 * does not hold the process open, and one the server has closed meanwhile is replaced by a new one.
 * Sessions a caller ends itself (`client.end()`) are closed as before.
 */
const keys = new WeakMap<pg.Client, string>();
const kept = new Map<string, pg.Client>();
/** Sessions `connect` opened that are not closed yet, kept or in use; and those being opened. */
const open = new Set<pg.Client>();
let opening = 0;

type Internals = pg.Client & {
  connection: { stream: { ref?(): void; unref?(): void } };
  connectionParameters: { query_timeout?: number };
  _queryable: boolean;
  _getActiveQuery(): unknown;
  _queryQueue: unknown[];
  _sentQueryQueue: unknown[];
};

/** Nothing running or waiting on it: a query `fn` gave up on (a deadline, an interrupt) may never end. */
function idle(client: pg.Client): boolean {
  const c = client as Internals;
  return c._queryable && !c._getActiveQuery() && c._queryQueue.length === 0 && c._sentQueryQueue.length === 0;
}

async function takeKept(key: string, opts: ConnectOptions): Promise<pg.Client | undefined> {
  const client = kept.get(key);
  if (!client) return undefined;
  kept.delete(key);
  (client as Internals).connection.stream.ref?.();
  try {
    await setUp(client, opts, true);
    return client;
  } catch {
    await client.end().catch(() => {});
    return undefined;
  }
}

/** The session's application name (when taken), timeouts and query mode, in one query. */
async function setUp(client: pg.Client, opts: ConnectOptions, taken: boolean): Promise<void> {
  (client as { pipeline: boolean }).pipeline = Boolean(opts.pipeline);
  (client as Internals).connectionParameters.query_timeout = opts.queryTimeoutMs;
  const settings: Array<[string, string]> = Object.entries(startupSettings(opts)).map(([k, v]) => [
    k,
    String(v),
  ]);
  if (taken) settings.unshift(['application_name', opts.applicationName ?? APPLICATION_NAME]);
  if (settings.length === 0) return;
  await client.query(
    `select ${settings.map((_, i) => `pg_catalog.set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`,
    settings.flat(),
  );
}

async function keep(client: pg.Client): Promise<void> {
  const key = keys.get(client);
  if (key === undefined || kept.has(key) || !idle(client) || open.size + opening > sessionsBound())
    return void (await client.end().catch(() => {}));
  try {
    await client.query('DISCARD ALL');
  } catch {
    return void (await client.end().catch(() => {}));
  }
  // another session to that server may have been kept, or others opened, while this one was reset
  if (kept.has(key) || open.size + opening > sessionsBound())
    return void (await client.end().catch(() => {}));
  (client as Internals).connection.stream.unref?.();
  kept.set(key, client);
}

/**
 * A kept session, closed. Its socket is held again first: a command waiting on nothing else (the
 * next connect, under the bound, waits for this end) would otherwise see the process end under
 * it, mid-command, with exit code 0 and nothing printed.
 */
function closeKept(client: pg.Client): Promise<void> {
  (client as Internals).connection.stream.ref?.();
  return client.end().catch(() => {});
}

/**
 * What this process learnt of servers, forgotten: the kept sessions closed, the TLS refusals
 * cleared. A process that runs one command never needs it (its end closes them); one that runs
 * several (`runInProcess`, cli/main.ts) calls it after each, so a command leaves no session
 * behind for a test's DROP DATABASE or server restart, and the next command learns afresh.
 */
export async function forgetServers(): Promise<void> {
  const sessions = [...kept.values()];
  kept.clear();
  refusedTls.clear();
  await Promise.all(sessions.map(closeKept));
}
