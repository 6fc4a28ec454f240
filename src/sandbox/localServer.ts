/**
 * One local PostgreSQL server's life, from the embedded binaries: its data directory (a copy of
 * the version's template), start, stop and delete, and the role and database it must hold. What
 * it writes into postgresql.conf and pg_hba.conf is `sandbox/serverConfig.ts`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { connectionUrl } from '../db/connectionParams.js';
import { SteepError } from '../model/errors.js';
import type { ConnectionSpec } from '../model/topology.js';
import {
  isSupportedMajor,
  type PgBinaries,
  type PgMajor,
  resolveBinaries,
  SUPPORTED_MAJORS,
} from './binaries.js';
import { isPortFree, LOOPBACK } from './ports.js';
import { type HostAuth, writeServerConfig } from './serverConfig.js';
import {
  chownToServerUser,
  runAsServerUser,
  runAsServerUserSync,
  unreachableAncestor,
} from './serverUser.js';
import { BOOTSTRAP_SUPERUSER, ensureTemplate, tail } from './template.js';

const execFileAsync = promisify(execFile);

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface LocalServerOptions {
  /** PGDATA. Created from the version's template when it holds no cluster yet; reused when it does. */
  dataDir: string;
  /** TCP port on 127.0.0.1; may be changed with setPort() before a (re)start */
  port: number;
  /** default 18 */
  version?: PgMajor;
  /** a name for error messages (`node east: …`) */
  name?: string;
  /** superuser role ensured at every start; default `postgres` */
  user?: string;
  /** that role's password, set at every start when given */
  password?: string;
  /** database ensured at every start; default `postgres` */
  database?: string;
  /** TCP authentication; default scram-sha-256 when a password is given, else trust */
  auth?: HostAuth;
  /** on top of LOCAL_SERVER_SETTINGS in sandbox/serverConfig.ts (e.g. `{ wal_level: 'replica' }`) */
  settings?: Record<string, string>;
  /** default `<dataDir>/server.log` */
  logFile?: string;
  /** a hot standby: its roles and databases are the primary's, nothing is ensured at start */
  standby?: boolean;
}

export type StartOutcome = 'started' | 'already-running' | 'restarted';

/** Unix socket paths are limited to ~104 bytes. */
const MAX_SOCKET_PATH = 100;

/** PG_VERSION of the cluster in `dataDir`, or null when it holds none. */
async function clusterVersion(dataDir: string): Promise<string | null> {
  const text = await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => null);
  return text?.trim() ?? null;
}

export function portInUseError(name: string, port: number): SteepError {
  return new SteepError(
    'sandbox.port-in-use',
    `node ${name}: port ${port} on ${LOOPBACK} is already in use by another program`,
    { node: name, hint: 'stop that program or give the node another port' },
  );
}

/**
 * One PostgreSQL server run from the embedded binaries, detached from this process (it outlives
 * the CLI, as `steep sandbox` needs): started with `pg_ctl start`, stopped with `pg_ctl stop`.
 * Runs as the `postgres` user when steep is root.
 */
export class LocalServer {
  readonly dataDir: string;
  readonly version: PgMajor;
  readonly binaries: PgBinaries;
  readonly logFile: string;
  readonly socketDir: string;
  readonly user: string;
  readonly database: string;
  readonly password: string | undefined;
  readonly auth: HostAuth;
  readonly name: string;
  private portValue: number;
  private readonly settings: Record<string, string>;
  private readonly standby: boolean;

  private constructor(opts: LocalServerOptions, binaries: PgBinaries) {
    this.dataDir = path.resolve(opts.dataDir);
    this.binaries = binaries;
    this.version = binaries.major;
    this.portValue = opts.port;
    this.name = opts.name ?? path.basename(this.dataDir);
    this.user = opts.user ?? BOOTSTRAP_SUPERUSER;
    this.database = opts.database ?? 'postgres';
    this.password = opts.password;
    this.auth = opts.auth ?? (opts.password ? 'scram-sha-256' : 'trust');
    this.settings = { ...opts.settings };
    this.standby = opts.standby ?? false;
    this.logFile = opts.logFile ? path.resolve(opts.logFile) : path.join(this.dataDir, 'server.log');
    this.socketDir = LocalServer.socketDirFor(this.dataDir);
  }

  /**
   * The server for `opts.dataDir`: a copy of the version's template when the directory holds no
   * cluster yet (much faster than initdb; the template itself is made once per machine with initdb), else
   * the existing cluster. Not started.
   */
  static async create(opts: LocalServerOptions): Promise<LocalServer> {
    const server = new LocalServer(opts, await resolveBinaries(opts.version ?? 18));
    await server.initDataDir();
    return server;
  }

  /** The server of an existing cluster in `opts.dataDir` (its version read from PG_VERSION), or null when there is none. */
  static async existing(opts: Omit<LocalServerOptions, 'version'>): Promise<LocalServer | null> {
    const pgVersion = await clusterVersion(opts.dataDir);
    if (pgVersion === null) return null;
    const major = Number.parseInt(pgVersion, 10);
    if (!isSupportedMajor(major)) {
      throw new SteepError(
        'sandbox.version',
        `${opts.dataDir} holds a PostgreSQL ${pgVersion} cluster; steep runs only ${SUPPORTED_MAJORS.join(' and ')}`,
        { node: opts.name },
      );
    }
    return new LocalServer(opts, await resolveBinaries(major));
  }

  /** Where the Unix socket of a data directory lives: inside it when the path is short enough. */
  static socketDirFor(dataDir: string): string {
    if (path.join(dataDir, '.s.PGSQL.65535.lock').length <= MAX_SOCKET_PATH) return dataDir;
    const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
    return path.join(os.tmpdir(), `steep-sock-${hash}`);
  }

  get port(): number {
    return this.portValue;
  }

  /** Takes effect at the next start. */
  setPort(port: number): void {
    this.portValue = port;
  }

  /** `major * 10000 + minor`, like `server_version_num` */
  get serverVersionNum(): number {
    const [major, minor] = this.binaries.version.split('.').map((n) => Number.parseInt(n, 10));
    return (major ?? 0) * 10000 + (minor ?? 0);
  }

  /** How clients reach it over TCP. Contains the password: print only through db/mask. */
  get connection(): ConnectionSpec {
    return {
      host: LOOPBACK,
      port: this.portValue,
      database: this.database,
      user: this.user,
      ...(this.password ? { password: this.password } : {}),
    };
  }

  /** `postgres://user:password@127.0.0.1:port/database`; print only through db/mask. */
  get url(): string {
    return connectionUrl(this.connection);
  }

  /** made from the template by this object and not started yet (see shiftOidCounter) */
  private freshCopy = false;

  private async initDataDir(): Promise<void> {
    const pgVersion = await clusterVersion(this.dataDir);
    if (pgVersion !== null) {
      const major = Number.parseInt(pgVersion, 10);
      if (major !== this.version) {
        throw new SteepError(
          'sandbox.version',
          `node ${this.name}: ${this.dataDir} holds a PostgreSQL ${major} cluster, not ${this.version}`,
          { node: this.name, hint: 'delete it (steep sandbox down --purge) to start afresh' },
        );
      }
      return;
    }
    const existing = await fs.readdir(this.dataDir).catch(() => null);
    if (existing && existing.length > 0) {
      throw new SteepError(
        'sandbox.datadir',
        `node ${this.name}: ${this.dataDir} exists and is not a PostgreSQL data directory`,
        { node: this.name, hint: 'remove it or choose another directory' },
      );
    }
    const blocked = await unreachableAncestor(this.dataDir);
    if (blocked) {
      throw new SteepError(
        'sandbox.permissions',
        `node ${this.name}: the postgres user cannot reach ${this.dataDir} because ${blocked} is not searchable by it`,
        {
          node: this.name,
          hint: `chmod o+x ${blocked}, or keep the file in a directory other users can enter`,
        },
      );
    }
    const template = await ensureTemplate(this.binaries);
    if (existing) await fs.rmdir(this.dataDir);
    await fs.mkdir(path.dirname(this.dataDir), { recursive: true });
    // cp -a keeps the owner (the postgres user) and the 0700 mode PostgreSQL insists on
    await execFileAsync('cp', ['-a', template, this.dataDir]);
    this.freshCopy = true;
  }

  private async ensureSocketDir(): Promise<void> {
    if (this.socketDir === this.dataDir) return;
    await fs.mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    await chownToServerUser(this.socketDir);
  }

  /** `pg_ctl status`: the postmaster of this data directory is alive. */
  async isRunning(): Promise<boolean> {
    const r = await runAsServerUser(this.binaries.pgCtl, ['status', '-D', this.dataDir], this.dataDir).catch(
      () => null,
    );
    return r?.code === 0;
  }

  /** The port the running postmaster listens on (postmaster.pid, line 4), or null. */
  async runningPort(): Promise<number | null> {
    const pid = await fs.readFile(path.join(this.dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
    const port = Number.parseInt(pid?.split('\n')[3] ?? '', 10);
    return Number.isFinite(port) ? port : null;
  }

  /**
   * Start (detached) and ensure the role, its password and the database. Already running on
   * the configured port: only the ensuring; on another port: restarted with the new one.
   */
  async start(): Promise<StartOutcome> {
    let outcome: StartOutcome = 'started';
    if (await this.isRunning()) {
      if ((await this.runningPort()) === this.portValue) {
        await this.ensureObjects();
        return 'already-running';
      }
      await this.stop('fast');
      outcome = 'restarted';
    }
    await this.ensureSocketDir();
    await writeServerConfig(this.dataDir, {
      settings: { ...this.settings, port: String(this.portValue), unix_socket_directories: this.socketDir },
      auth: this.auth,
    });
    if (!(await isPortFree(this.portValue))) throw portInUseError(this.name, this.portValue);
    const logOffset = await fs
      .stat(this.logFile)
      .then((s) => s.size)
      .catch(() => 0);
    const r = await runAsServerUser(
      this.binaries.pgCtl,
      ['start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-s'],
      this.dataDir,
    );
    if (r.code !== 0) {
      const log = (await fs.readFile(this.logFile, 'utf8').catch(() => '')).slice(logOffset);
      if (/Address already in use|could not create any TCP\/IP sockets/i.test(log))
        throw portInUseError(this.name, this.portValue);
      const fatal = log.split('\n').find((l) => /FATAL|PANIC/.test(l)) ?? tail(log || r.stderr || r.stdout);
      throw new SteepError(
        'sandbox.start',
        `node ${this.name}: PostgreSQL ${this.binaries.version} did not start: ${fatal.trim()}`,
        { node: this.name, hint: `see ${this.logFile}` },
      );
    }
    await this.ensureObjects();
    return outcome;
  }

  /** A superuser connection over the Unix socket (trust); the caller ends it. */
  async adminClient(database = 'postgres'): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.socketDir,
      port: this.portValue,
      user: BOOTSTRAP_SUPERUSER,
      database,
      application_name: 'steep-sandbox',
    });
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  private async ensureObjects(): Promise<void> {
    if (this.standby) return;
    const client = await this.adminClient();
    try {
      const role = client.escapeIdentifier(this.user);
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [this.user]);
      if (exists.rowCount === 0) await client.query(`CREATE ROLE ${role} SUPERUSER LOGIN`);
      else if (this.user !== BOOTSTRAP_SUPERUSER) await client.query(`ALTER ROLE ${role} SUPERUSER LOGIN`);
      if (this.password)
        await client.query(`ALTER ROLE ${role} PASSWORD ${client.escapeLiteral(this.password)}`);
      const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.database]);
      if (db.rowCount === 0) {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(this.database)} OWNER ${role}`);
      }
      if (this.freshCopy) {
        await this.shiftOidCounter(client);
        this.freshCopy = false;
      }
    } finally {
      await client.end().catch(() => {});
    }
  }

  /**
   * Every copy of the template shares its system identifier, and PostgreSQL names a table
   * sync's slot `pg_<subscription oid>_sync_<table oid>_<system identifier>`: two subscribers
   * with equal OIDs syncing from one publisher would take each other's slot and never finish.
   * A fresh copy therefore moves its OID counter on by an amount its port decides (distinct
   * for servers running side by side), so their subscription and table OIDs differ.
   */
  private async shiftOidCounter(client: pg.Client): Promise<void> {
    const burn = 1 + (this.portValue % 2000);
    await client.query('SELECT count(lo_unlink(lo_create(0))) FROM generate_series(1, $1)', [burn]);
  }

  /** Stop; false when it was not running. `fast` rolls back sessions, `immediate` skips the checkpoint. */
  async stop(mode: StopMode = 'fast'): Promise<boolean> {
    if (!(await this.isRunning())) return false;
    const r = await runAsServerUser(this.binaries.pgCtl, this.stopArgs(mode, 60), this.dataDir);
    if (r.code !== 0 && (await this.isRunning())) {
      throw new SteepError(
        'sandbox.stop',
        `node ${this.name}: pg_ctl stop failed: ${tail(r.stderr || r.stdout)}`,
        {
          node: this.name,
        },
      );
    }
    return true;
  }

  async restart(mode: StopMode = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /** For exit hooks: stop at once, synchronously, never throwing. */
  stopSync(mode: StopMode = 'immediate'): void {
    runAsServerUserSync(this.binaries.pgCtl, this.stopArgs(mode, 30));
  }

  /** `pg_ctl stop` waiting at most `timeout` seconds. */
  private stopArgs(mode: StopMode, timeout: number): string[] {
    return ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', String(timeout), '-s'];
  }

  /** Stop (immediate) and delete the data directory and socket directory. */
  async destroy(): Promise<void> {
    await this.stop('immediate');
    await fs.rm(this.dataDir, { recursive: true, force: true });
    if (this.socketDir !== this.dataDir) await fs.rm(this.socketDir, { recursive: true, force: true });
  }

  /** Synchronous twin of destroy() for exit hooks. */
  destroySync(): void {
    this.stopSync('immediate');
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.socketDir !== this.dataDir) rmSync(this.socketDir, { recursive: true, force: true });
  }
}
