/**
 * Real PostgreSQL nodes for integration tests: N servers from the embedded binaries, each a copy
 * of a cached initdb template (about a second for a small cluster), on free ports, torn down in
 * afterAll — and, if the process dies first, by exit/signal hooks or by the next run's reaper.
 *
 *   const cluster = useCluster({ nodes: ['pub', 'sub'] });
 *   test('…', async () => { await cluster().node('pub').query('SELECT 1'); });
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { clientConfig, connect } from '../../src/db/connect.js';
import { connectionUrl } from '../../src/db/connectionParams.js';
import type { ConnectionSpec } from '../../src/model/topology.js';
import { isSupportedMajor, type PgMajor, resolveBinaries } from '../../src/sandbox/binaries.js';
import { LocalServer } from '../../src/sandbox/localServer.js';
import { findFreePort } from '../../src/sandbox/ports.js';
import { chownToServerUser, runAsServerUserSync } from '../../src/sandbox/serverUser.js';
import { registerSecret } from './cli.js';

export interface TestNode {
  name: string;
  port: number;
  version: PgMajor;
  serverVersionNum: number;
  /** random per node; TCP connections authenticate with scram-sha-256 */
  password: string;
  /** host 127.0.0.1, the port, database `app`, user `postgres`, the password */
  connection: ConnectionSpec;
  /** postgres://postgres:<password>@127.0.0.1:<port>/app */
  url: string;
  dataDir: string;
  /** Runs one statement on a pooled connection (the pool is closed at stop/restart). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A new connected client; the caller ends it. */
  client(): Promise<pg.Client>;
  /** `downMs`: how long the server stays down between its stop and its start */
  restart(mode?: 'fast' | 'immediate', downMs?: number): Promise<void>;
  /** `immediate` skips the checkpoint, as a crash would (default `fast`) */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

export interface TestCluster {
  nodes: TestNode[];
  node(name: string): TestNode;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** node names, or a count (names `n1`, `n2`, …) */
  nodes: string[] | number;
  /** default: env STEEP_TEST_PG (14 or 18), else 18 */
  version?: PgMajor;
  /** server settings on top of the defaults, e.g. `{ wal_level: 'replica' }` */
  settings?: Record<string, string>;
  /**
   * TLS fields of the nodes' `connection` (and so of `query`, `client` and `url`), for servers
   * whose `settings` turn ssl on; without them the test helpers connect without TLS
   */
  tls?: Pick<ConnectionSpec, 'sslmode' | 'sslrootcert' | 'sslcert' | 'sslkey'>;
}

const DATABASE = 'app';
const USER = 'postgres';
const BASE_PREFIX = 'steep-test-';
const OWNER_FILE = 'owner.json';
const PORT_ATTEMPTS = 5;
/**
 * On top of the sandbox's settings. The launcher waits wal_retrieve_retry_interval (5 s by
 * default) before it starts a failed apply or table sync worker again; PostgreSQL's own
 * subscription tests shorten it the same way, so a crash loop shows in seconds, not minutes.
 * An apply worker commits asynchronously and confirms a position to its slot only once the WAL
 * writer has flushed its commit, every wal_writer_delay (200 ms by default): a verify re-reads
 * each chunk once the slot confirms past the publisher's mark, and waited for that flush each
 * time (initEvidence: 26 s → 9 s for one init's comparison). A test of asynchronous commits sets
 * its own delay (ALTER SYSTEM, which postgresql.conf does not override).
 */
const TEST_SETTINGS = { wal_retrieve_retry_interval: '500ms', wal_writer_delay: '10ms' };

/**
 * The server versions a version-parametric test file runs on: `STEEP_TEST_PG` as a comma list
 * (`npm run test:matrix` sets each of 14…18 in turn); by default 18 and 14, the newest and the
 * oldest supported catalog.
 */
export function testVersions(): PgMajor[] {
  const env = process.env.STEEP_TEST_PG;
  if (env === undefined || env.trim() === '') return [18, 14];
  return env.split(',').map((part) => {
    const n = Number.parseInt(part, 10);
    if (!isSupportedMajor(n))
      throw new Error(`STEEP_TEST_PG=${env}: expected versions among 14, 15, 16, 17, 18`);
    return n;
  });
}

/**
 * The server versions a fault-injection file runs on (restarts, cuts): by default only the newest,
 * as its subject is steep's own recovery code, which is the same on every version; the catalog
 * and semantics files run 14 as well. `STEEP_TEST_PG` (and so `npm run test:matrix`) still
 * runs them on each version it names.
 */
export function faultVersions(): PgMajor[] {
  const env = process.env.STEEP_TEST_PG;
  return env === undefined || env.trim() === '' ? [18] : testVersions();
}

/** The version of a cluster whose test does not name one: the first of testVersions(). */
export function defaultVersion(): PgMajor {
  return testVersions()[0]!;
}

// ---- teardown when the process ends before afterAll ------------------------------------------

/** Base directories of the clusters this process started, and their servers. */
const live = new Map<string, LocalServer[]>();
let hooksInstalled = false;

function destroyAllSync(): void {
  for (const [base, servers] of live) {
    for (const s of servers) s.destroySync();
    rmSync(base, { recursive: true, force: true });
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', destroyAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      destroyAllSync();
      process.removeListener(signal, onSignal);
      // keep the default behaviour (terminate) unless someone else handles the signal
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let reaped = false;

/** Stop and delete clusters left behind by test processes that were killed outright (SIGKILL). */
async function reapStale(): Promise<void> {
  if (reaped) return;
  reaped = true;
  const tmp = os.tmpdir();
  const bins = await resolveBinaries(18).catch(() => null);
  for (const entry of await fs.readdir(tmp).catch(() => [] as string[])) {
    if (!entry.startsWith(BASE_PREFIX)) continue;
    const base = path.join(tmp, entry);
    let owner: { pid?: number; uid?: number } = {};
    try {
      owner = JSON.parse(readFileSync(path.join(base, OWNER_FILE), 'utf8'));
    } catch {
      continue; // being created right now, or not ours
    }
    if (owner.uid !== process.getuid?.() || owner.pid === undefined || pidAlive(owner.pid)) continue;
    for (const node of await fs.readdir(base).catch(() => [] as string[])) {
      const dataDir = path.join(base, node);
      const version = await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => null);
      if (version === null) continue;
      const major = Number.parseInt(version, 10);
      const b = isSupportedMajor(major) ? await resolveBinaries(major).catch(() => bins) : bins;
      if (b) runAsServerUserSync(b.pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s']);
    }
    await fs.rm(base, { recursive: true, force: true });
  }
}

// ---- nodes and clusters ----------------------------------------------------------------------

function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

async function startServer(server: LocalServer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await server.start();
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'sandbox.port-in-use' || attempt >= PORT_ATTEMPTS) throw err;
      server.setPort(await findFreePort());
    }
  }
}

class Node implements TestNode {
  readonly name: string;
  readonly version: PgMajor;
  readonly serverVersionNum: number;
  readonly password: string;
  readonly dataDir: string;
  private pool: pg.Pool | null = null;

  constructor(
    private readonly server: LocalServer,
    private readonly tls: ClusterOptions['tls'] = {},
  ) {
    this.name = server.name;
    this.version = server.version;
    this.serverVersionNum = server.serverVersionNum;
    this.password = server.password ?? '';
    registerSecret(this.password);
    this.dataDir = server.dataDir;
  }

  get port(): number {
    return this.server.port;
  }

  get connection(): ConnectionSpec {
    return { ...this.server.connection, ...this.tls };
  }

  get url(): string {
    return connectionUrl(this.connection);
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    if (!this.pool) {
      this.pool = new pg.Pool({
        // a pool makes one attempt: libpq's default `prefer` would try TLS first, which a test
        // server without ssl refuses, so plain unless the cluster says otherwise
        ...clientConfig(
          { ...this.connection, sslmode: this.connection.sslmode ?? 'disable' },
          { node: this.name, applicationName: 'steep-test' },
        ),
        max: 4,
        idleTimeoutMillis: 2_000,
        allowExitOnIdle: true,
      });
      this.pool.on('error', () => {});
    }
    const result = await this.pool.query(sql, params);
    return result.rows as T[];
  }

  client(): Promise<pg.Client> {
    return connect(this.connection, { node: this.name, applicationName: 'steep-test' });
  }

  async closePool(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.end().catch(() => {});
  }

  async restart(mode: 'fast' | 'immediate' = 'fast', downMs = 0): Promise<void> {
    await this.closePool();
    await this.server.stop(mode);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await startServer(this.server);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.closePool();
    await this.server.stop(mode);
  }

  async destroy(): Promise<void> {
    await this.closePool();
    await this.server.destroy();
  }
}

/**
 * Copies of one template share a system identifier, so only the postmaster's start time tells
 * their servers apart, as steep tells them (planner/subscriptions/sameServer.ts): two started in the same
 * microsecond (seen once in CI) would plan as databases of one server. One of them restarts.
 */
async function distinctStartTimes(nodes: Node[]): Promise<void> {
  const startedAt = async (n: Node) =>
    (await n.query<{ t: string }>('SELECT extract(epoch FROM pg_postmaster_start_time())::text AS t'))[0]!.t;
  for (let attempt = 0; attempt < 5; attempt++) {
    const times = await Promise.all(nodes.map(startedAt));
    const twin = times.findIndex((t, i) => times.indexOf(t) !== i);
    if (twin < 0) return;
    await nodes[twin]!.restart('fast');
  }
  throw new Error('startCluster: two nodes keep the same postmaster start time');
}

export async function startCluster(opts: ClusterOptions): Promise<TestCluster> {
  if (process.env.STEEP_TEST_BACKEND === 'docker') {
    throw new Error(
      'STEEP_TEST_BACKEND=docker: the testcontainers backend is not implemented (it needs a Docker engine); unset it to use embedded nodes',
    );
  }
  const version = opts.version ?? defaultVersion();
  const names =
    typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`) : opts.nodes;
  if (names.length === 0) throw new Error('startCluster: no nodes');
  if (new Set(names).size !== names.length)
    throw new Error(`startCluster: duplicate node names in ${names.join(', ')}`);

  installHooks();
  await reapStale();
  const base = await fs.mkdtemp(path.join(os.tmpdir(), BASE_PREFIX));
  await fs.chmod(base, 0o755);
  await chownToServerUser(base);
  await fs.writeFile(
    path.join(base, OWNER_FILE),
    JSON.stringify({ pid: process.pid, uid: process.getuid?.() }),
  );
  const servers: LocalServer[] = [];
  live.set(base, servers);

  const nodes = await Promise.allSettled(
    names.map(async (name) => {
      const server = await LocalServer.create({
        dataDir: path.join(base, name),
        name,
        port: await findFreePort(),
        version,
        user: USER,
        password: randomPassword(),
        database: DATABASE,
        auth: 'scram-sha-256',
        settings: { ...TEST_SETTINGS, ...opts.settings },
      });
      servers.push(server);
      await startServer(server);
      return new Node(server, opts.tls);
    }),
  );

  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.destroy().catch(() => s.destroySync())));
    await fs.rm(base, { recursive: true, force: true });
    live.delete(base);
  };

  const failed = nodes.find((n): n is PromiseRejectedResult => n.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const started = nodes.map((n) => (n as PromiseFulfilledResult<Node>).value);
  try {
    await distinctStartTimes(started);
  } catch (err) {
    await stopAll();
    throw err;
  }
  let stopped = false;
  return {
    nodes: started,
    node(name: string): TestNode {
      const found = started.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name} in this cluster (nodes: ${names.join(', ')})`);
      return found;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await Promise.all(started.map((n) => n.closePool()));
      await stopAll();
    },
  };
}

/** Registers beforeAll/afterAll in the current vitest file and returns a getter for the cluster. */
export function useCluster(opts: ClusterOptions): () => TestCluster {
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(opts);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);
  return () => {
    if (!cluster)
      throw new Error('useCluster: the cluster is not started yet (call the getter inside a test or hook)');
    return cluster;
  };
}

/**
 * Another database of `base`'s server, as a TestNode named `name` for the data helpers: the same
 * port and password; `query` opens a client per statement (the caller creates the database).
 */
export function otherDatabase(base: TestNode, database: string, name = database): TestNode {
  const connection = { ...base.connection, database };
  const client = async () => {
    const c = new pg.Client({ ...connection, password: base.password });
    await c.connect();
    return c;
  };
  return {
    ...base,
    name,
    connection,
    url: base.url.replace(/\/[^/]*$/, `/${database}`),
    client,
    query: async <T>(sql: string, params?: unknown[]) => {
      const c = await client();
      try {
        return (await c.query(sql, params)).rows as T[];
      } finally {
        await c.end();
      }
    },
  };
}

// ---- physical standbys ------------------------------------------------------------------------

export interface StandbyOptions {
  /** the standby's name (its data directory beside the primary's) */
  name: string;
  /** the physical slot on the primary it streams from (created here) */
  slot: string;
  /** settings on top of those of a standby (primary_conninfo, primary_slot_name, hot_standby_feedback, 17+: sync_replication_slots) */
  settings?: Record<string, string>;
}

export interface TestStandby extends TestNode {
  /** `pg_promote()`: out of recovery, a primary of its own */
  promote(): Promise<void>;
}

/**
 * Physical standbys of `primary` (embedded packages ship no pg_basebackup): cold copies of its
 * data directory (the primary is stopped fast once, copied for each, started again), without its slots, with
 * `standby.signal` and the settings slot synchronisation needs: `primary_conninfo` with a dbname,
 * `primary_slot_name`, `hot_standby_feedback`, and on 17+ `sync_replication_slots`. They share the
 * primary's roles and password; the cluster stops them with its own nodes. (One stop for all: a
 * standby streaming while its primary stops again retries only after PostgreSQL's 5 s wait.)
 */
export async function startStandbys(
  cluster: TestCluster,
  primaryName: string,
  standbys: StandbyOptions[],
): Promise<TestStandby[]> {
  const primary = cluster.node(primaryName) as Node;
  const base = path.dirname(primary.dataDir);
  const servers = live.get(base);
  if (!servers) throw new Error(`startStandby: the cluster of ${primaryName} is not running`);
  for (const opts of standbys)
    await primary.query('SELECT pg_create_physical_replication_slot($1)', [opts.slot]);
  await primary.stop('fast');
  for (const opts of standbys) await runAs('cp', ['-a', primary.dataDir, path.join(base, opts.name)]);
  await primary.restart('fast');
  const started: TestStandby[] = [];
  for (const opts of standbys) {
    const dataDir = path.join(base, opts.name);
    for (const leftover of ['postmaster.pid', 'postmaster.opts', 'server.log'])
      await fs.rm(path.join(dataDir, leftover), { force: true });
    const slots = path.join(dataDir, 'pg_replslot');
    for (const entry of await fs.readdir(slots))
      await fs.rm(path.join(slots, entry), { recursive: true, force: true });
    await fs.writeFile(path.join(dataDir, 'standby.signal'), '');
    await chownToServerUser(path.join(dataDir, 'standby.signal'));
    const conninfo = `host=127.0.0.1 port=${primary.port} user=${USER} password=${primary.password} dbname=${DATABASE} application_name=${opts.name}`;
    const server = await LocalServer.existing({
      dataDir,
      name: opts.name,
      port: await findFreePort(),
      user: USER,
      password: primary.password,
      database: DATABASE,
      auth: 'scram-sha-256',
      standby: true,
      settings: {
        primary_conninfo: conninfo,
        primary_slot_name: opts.slot,
        hot_standby_feedback: 'on',
        ...(primary.version >= 17 ? { sync_replication_slots: 'on' } : {}),
        ...opts.settings,
      },
    });
    if (!server) throw new Error(`startStandby: ${dataDir} holds no cluster`);
    servers.push(server);
    await startServer(server);
    const node = new Node(server) as Node & TestStandby;
    node.promote = async () => {
      await node.query('SELECT pg_promote(true, 60)');
    };
    started.push(node);
  }
  return started;
}

/** One standby of `primary`: startStandbys with one. */
export async function startStandby(
  cluster: TestCluster,
  primaryName: string,
  opts: StandbyOptions,
): Promise<TestStandby> {
  return (await startStandbys(cluster, primaryName, [opts]))[0]!;
}

/**
 * Starts `server`, a physical copy made of `source`'s data directory beside it
 * (support/physicalCopy.ts), as a node of `source`'s cluster: it shares `source`'s roles and
 * password, and the cluster stops it with its own nodes.
 */
export async function startCopy(source: TestNode, server: LocalServer): Promise<TestNode> {
  const servers = live.get(path.dirname(source.dataDir));
  if (!servers) throw new Error(`startCopy: the cluster of ${source.name} is not running`);
  servers.push(server);
  await startServer(server);
  return new Node(server);
}

async function runAs(cmd: string, args: string[]): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => execFile(cmd, args, (err) => (err ? reject(err) : resolve())));
}
