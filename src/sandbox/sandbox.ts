/**
 * `steep sandbox`: local PostgreSQL servers for the nodes of a file marked `sandbox: true`, with
 * their data under `.steep/sandbox/<node>/data` next to the file. They run detached and outlive
 * the CLI until `steep sandbox down`.
 *
 * Authentication: a node that declares a password gets it set on its role and TCP connections
 * use scram-sha-256; a node without one is reached with `trust` on 127.0.0.1 (a local toy,
 * nothing listens beyond the loopback interface).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { loadTopology } from '../config/load.js';
import { connectionUrl } from '../db/connectionParams.js';
import { registerSecret } from '../db/mask.js';
import { SteepError } from '../model/errors.js';
import type { NodeSpec, Topology } from '../model/topology.js';
import { isSupportedMajor, type PgMajor, SUPPORTED_MAJORS } from './binaries.js';
import { LocalServer, portInUseError, type StartOutcome } from './localServer.js';
import { isPortFree } from './ports.js';

export const SANDBOX_MAJOR: PgMajor = 18;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1']);

export interface SandboxNodeStatus {
  node: string;
  state: 'running' | 'stopped' | 'absent';
  /** the port declared in the file (null for a directory no longer in the file) */
  port: number | null;
  /** the port the running server listens on, when running */
  runningPort: number | null;
  /** the node's URL as declared, password included when there is one: print through db/mask */
  url: string | null;
  /** e.g. `18.4`; null when absent */
  version: string | null;
  dataDir: string;
  logFile: string;
  /** false for a directory under .steep/sandbox whose node is no longer in the file (or no longer `sandbox: true`) */
  inFile: boolean;
}

export interface SandboxUpNode {
  node: string;
  outcome?: 'created' | StartOutcome;
  /** one sentence naming the node; set when this node failed */
  error?: SteepError;
  url: string;
  port: number;
  version: string | null;
  dataDir: string;
}

export interface SandboxDownNode {
  node: string;
  outcome?: 'stopped' | 'not-running';
  purged: boolean;
  error?: SteepError;
}

/** `.steep/sandbox` next to the config file. */
export function sandboxDir(configPath: string): string {
  return path.join(path.dirname(path.resolve(configPath)), '.steep', 'sandbox');
}

function nodeDataDir(configPath: string, node: string): string {
  return path.join(sandboxDir(configPath), node, 'data');
}

function sandboxNodes(topology: Topology): NodeSpec[] {
  return Object.values(topology.nodes).filter((n) => n.sandbox);
}

function declaredMajor(node: NodeSpec): PgMajor {
  if (node.serverVersion === undefined) return SANDBOX_MAJOR;
  const major = Math.floor(node.serverVersion / 10000);
  if (!isSupportedMajor(major)) {
    throw new SteepError(
      'sandbox.version',
      `node ${node.name}: declares PostgreSQL ${major}, but the sandbox runs only PostgreSQL ${SUPPORTED_MAJORS.join(' or ')}`,
      { node: node.name, hint: 'remove the declared server version or run this node elsewhere' },
    );
  }
  return major;
}

function checkLocal(node: NodeSpec): void {
  const { host, hostaddr } = node.connection;
  if (!LOCAL_HOSTS.has(host) || (hostaddr !== undefined && hostaddr !== '127.0.0.1')) {
    throw new SteepError(
      'sandbox.host',
      `node ${node.name}: a sandbox node must be on localhost or 127.0.0.1, not ${hostaddr === undefined || hostaddr === '127.0.0.1' ? host : `hostaddr ${hostaddr}`}`,
      { node: node.name, hint: 'set its host to 127.0.0.1, or remove `sandbox: true`' },
    );
  }
}

function serverOptions(configPath: string, node: NodeSpec) {
  registerSecret(node.connection.password);
  return {
    dataDir: nodeDataDir(configPath, node.name),
    name: node.name,
    port: node.connection.port,
    user: node.connection.user,
    password: node.connection.password,
    database: node.connection.database,
  };
}

function asSteepError(node: string, err: unknown): SteepError {
  if (err instanceof SteepError) return err;
  return new SteepError('sandbox', `node ${node}: ${(err as Error).message ?? String(err)}`, {
    node,
    cause: err,
  });
}

async function upNode(configPath: string, node: NodeSpec): Promise<SandboxUpNode> {
  const result: SandboxUpNode = {
    node: node.name,
    url: connectionUrl(node.connection),
    port: node.connection.port,
    version: null,
    dataDir: nodeDataDir(configPath, node.name),
  };
  try {
    checkLocal(node);
    const opts = serverOptions(configPath, node);
    const major = declaredMajor(node);
    const existing = await LocalServer.existing(opts);
    if (existing && existing.version !== major) {
      throw new SteepError(
        'sandbox.version',
        `node ${node.name}: its sandbox holds PostgreSQL ${existing.version}, but the node needs ${major}`,
        { node: node.name, hint: 'run steep sandbox down --purge to start afresh' },
      );
    }
    // a new node on a taken port: say so before creating anything
    if (!existing && !(await isPortFree(opts.port))) throw portInUseError(node.name, opts.port);
    const server = existing ?? (await LocalServer.create({ ...opts, version: major }));
    result.version = server.binaries.version;
    const outcome = await server.start();
    result.outcome = existing ? outcome : 'created';
  } catch (err) {
    result.error = asSteepError(node.name, err);
  }
  return result;
}

/**
 * The sandbox nodes whose port something other than the node's own running server holds
 * (reads only: nothing is started or created).
 */
export async function portsTakenByOthers(configPath: string, topology: Topology) {
  const taken: Array<{ node: string; port: number }> = [];
  for (const node of sandboxNodes(topology)) {
    const port = node.connection.port;
    if (await isPortFree(port)) continue;
    const existing = await LocalServer.existing(serverOptions(configPath, node)).catch(() => null);
    const own = existing !== null && (await existing.isRunning()) && (await existing.runningPort()) === port;
    if (!own) taken.push({ node: node.name, port });
  }
  return taken;
}

/**
 * Start the sandbox nodes of a topology (in parallel); idempotent. A port another program holds
 * refuses them all before anything is created or started (no half sandbox); past that, a node's
 * failure does not stop the others.
 */
export async function startSandbox(configPath: string, topology: Topology): Promise<SandboxUpNode[]> {
  const nodes = sandboxNodes(topology);
  if (nodes.length === 0) {
    throw new SteepError('sandbox.none', `${configPath}: no node is marked \`sandbox: true\``, {
      hint: 'add `sandbox: true` to the nodes steep should start locally',
    });
  }
  const [taken] = await portsTakenByOthers(configPath, topology);
  if (taken) {
    const e = portInUseError(taken.node, taken.port);
    throw new SteepError(e.code, `${e.message}; nothing was started`, {
      node: taken.node,
      hint: 'stop that program or give the node another port, then run steep sandbox up again',
    });
  }
  return Promise.all(nodes.map((n) => upNode(configPath, n)));
}

/** `steep sandbox up`: load the file, start its sandbox nodes. */
export async function sandboxUp(configPath: string) {
  const { topology, warnings } = await loadTopology(configPath);
  return { configPath, nodes: await startSandbox(configPath, topology), warnings };
}

/** Node directories under .steep/sandbox that hold a cluster. */
async function sandboxDirsOnDisk(configPath: string): Promise<string[]> {
  const root = sandboxDir(configPath);
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, 'data', 'PG_VERSION')))
    .map((e) => e.name)
    .sort();
}

/**
 * `steep sandbox down`: stop every sandbox server under `.steep/sandbox` next to the file (the
 * file need not be valid, so a node removed from it is still stopped); `purge` also deletes
 * their data.
 */
export async function sandboxDown(
  configPath: string,
  opts: { purge?: boolean } = {},
): Promise<SandboxDownNode[]> {
  const names = await sandboxDirsOnDisk(configPath);
  const results = await Promise.all(
    names.map(async (name): Promise<SandboxDownNode> => {
      const result: SandboxDownNode = { node: name, purged: false };
      try {
        const server = await LocalServer.existing({ dataDir: nodeDataDir(configPath, name), name, port: 0 });
        result.outcome = (await server?.stop('fast')) ? 'stopped' : 'not-running';
        if (opts.purge) {
          if (server) await server.destroy();
          await fs.rm(path.join(sandboxDir(configPath), name), { recursive: true, force: true });
          result.purged = true;
        }
      } catch (err) {
        result.error = asSteepError(name, err);
      }
      return result;
    }),
  );
  if (opts.purge) {
    // leave no empty .steep/sandbox or .steep behind
    const root = sandboxDir(configPath);
    await fs.rmdir(root).catch(() => {});
    await fs.rmdir(path.dirname(root)).catch(() => {});
  }
  return results;
}

async function statusOf(
  configPath: string,
  name: string,
  node: NodeSpec | undefined,
): Promise<SandboxNodeStatus> {
  const dataDir = nodeDataDir(configPath, name);
  const server = await LocalServer.existing({ dataDir, name, port: node?.connection.port ?? 0 });
  const running = server ? await server.isRunning() : false;
  return {
    node: name,
    state: !server ? 'absent' : running ? 'running' : 'stopped',
    port: node?.connection.port ?? null,
    runningPort: running && server ? await server.runningPort() : null,
    url: node ? connectionUrl(node.connection) : null,
    version: server?.binaries.version ?? null,
    dataDir,
    logFile: server?.logFile ?? path.join(dataDir, 'server.log'),
    inFile: node !== undefined,
  };
}

/** `steep sandbox status`: every sandbox node of the file, and any sandbox directory left from nodes no longer in it. */
export async function sandboxStatus(configPath: string) {
  const { topology, warnings } = await loadTopology(configPath);
  const declared = new Map(sandboxNodes(topology).map((n) => [n.name, n]));
  for (const n of declared.values()) registerSecret(n.connection.password);
  const names = [...new Set([...declared.keys(), ...(await sandboxDirsOnDisk(configPath))])];
  const nodes = await Promise.all(names.map((name) => statusOf(configPath, name, declared.get(name))));
  return { configPath, nodes, warnings };
}
