import { readFile } from 'node:fs/promises';
import { loadTopology } from '../config/load.js';
import { maskDeep } from '../db/mask.js';
import { publicationAddress } from '../model/address.js';
import {
  CAPTURE_FORMAT_VERSION,
  type CapturedNode,
  type ObservedCapture,
  type PlanCapture,
  parseCapture,
} from '../model/capture.js';
import { type ClusterState, isUnknown, type ObservedNode } from '../model/cluster.js';
import { MASK, maskConninfo } from '../model/conninfo.js';
import { SteepError } from '../model/errors.js';
import type { NodeSpec, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { resolveLsnFlags } from '../planner/init/manualInit.js';
import { nodeCatalogDigest } from '../planner/nodeDigest.js';
import { STEEP_VERSION } from '../version.js';
import { observe, type PlanFlags, type PlanResult, planFor } from './plan.js';

/** The connection subscribers use to reach the node: the one whose password a subscription holds. */
const subscriberConnection = (n: NodeSpec) => n.replicationConnection ?? n.connection;

/**
 * `steep observe`: read every node as `plan` would — the schema of every table and whether it
 * holds rows, so a later steep.yaml that subscribes more tables can still be planned — and
 * return it without a secret. A node that cannot be read is an error: a capture holds every node.
 */
export async function captureObserved(configPath: string) {
  const { topology, warnings } = await loadTopology(configPath);
  const observed = await observe(topology, { everyTable: true });
  const unreachable = Object.values(observed.nodes).filter((n) => !n.reachable);
  if (unreachable.length > 0) {
    throw new SteepError(
      'observe.unreachable',
      `${unreachable.map((n) => (n.reachable ? '' : n.error)).join('; ')}; nothing was written: a capture must hold every node`,
      { node: unreachable[0]!.name },
    );
  }
  const nodes: Record<string, CapturedNode> = {};
  for (const n of Object.values(observed.nodes) as ObservedNode[]) {
    for (const s of Object.values(n.subscriptions)) {
      if (!isUnknown(s.conninfo)) s.conninfo = maskConninfo(s.conninfo);
    }
    nodes[n.name] = {
      digest: nodeCatalogDigest(n),
      serverVersion: n.serverVersion,
      password: subscriberConnection(topology.nodes[n.name]!).password !== undefined,
    };
  }
  const capture: ObservedCapture = {
    kind: 'steep-observed',
    formatVersion: CAPTURE_FORMAT_VERSION,
    steepVersion: STEEP_VERSION,
    takenAt: new Date().toISOString(),
    config: { path: topology.source.path, digest: topology.source.digest },
    topology: topology.topology,
    nodes,
    observed,
  };
  // connection strings are masked above; maskDeep is the last guard for anything else
  return { capture: maskDeep(capture), configWarnings: warnings };
}

export async function readCapture(path: string): Promise<ObservedCapture> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new SteepError('capture.unreadable', `cannot read capture ${path}: ${(err as Error).message}`, {
      hint: `make it with \`steep observe --out ${path}\``,
    });
  }
  return parseCapture(value, path);
}

/**
 * The file's nodes with every password shown as ****, as the capture shows the subscriptions'
 * connection strings: the plan compares the rest of the connection, and never needs a password.
 */
function withMaskedPasswords(topology: Topology, capture: ObservedCapture): Topology {
  const nodes: Record<string, NodeSpec> = {};
  for (const [name, n] of Object.entries(topology.nodes)) {
    const had = capture.nodes[name]?.password === true;
    const maskIn = <T extends { password?: string }>(c: T): T =>
      c.password !== undefined || had ? { ...c, password: MASK } : c;
    nodes[name] = {
      ...n,
      connection: maskIn(n.connection),
      replicationConnection: n.replicationConnection && maskIn(n.replicationConnection),
    };
  }
  return { ...topology, nodes };
}

/** The capture's catalogs for the file's nodes; a node it lacks cannot be planned (never assumed empty). */
function capturedCluster(topology: Topology, capture: ObservedCapture, file: string): ClusterState {
  const observed = structuredClone(capture.observed);
  const nodes: ClusterState['nodes'] = {};
  for (const name of Object.keys(topology.nodes)) {
    nodes[name] = observed.nodes[name] ?? {
      name,
      reachable: false,
      error: `node ${name} is not in the capture ${file} (taken at ${capture.takenAt}); run \`steep observe\` with this steep.yaml`,
    };
  }
  return { nodes };
}

/** A row filter only PostgreSQL can read back: one the capture did not ask it about cannot be compared. */
function uncapturedRowFilters(topology: Topology, observed: ClusterState, file: string): void {
  for (const p of Object.values(topology.publications)) {
    const node = observed.nodes[p.node];
    if (!node?.reachable) continue;
    for (const t of p.tables) {
      if (t.where === null) continue;
      const qn = qualifiedName(t);
      if (node.rowFilters[qn]?.[t.where] !== undefined || node.rowFilterErrors[qn]?.[t.where] !== undefined)
        continue;
      throw new SteepError(
        'capture.row_filter',
        `${publicationAddress(p.name)}: the row filter \`${t.where}\` of ${qn} is not in the capture ${file}, and only PostgreSQL can read it back; run \`steep observe\` with this steep.yaml, or plan against the live nodes`,
        { address: publicationAddress(p.name) },
      );
    }
  }
}

/** `steep plan --observed FILE`: the plan of the file against a capture instead of the live nodes. */
export async function planFromCapture(
  configPath: string,
  capturePath: string,
  opts: PlanFlags = {},
): Promise<PlanResult> {
  const capture = await readCapture(capturePath);
  const { topology, warnings } = await loadTopology(configPath, { maskUnsetPasswords: true });
  if (capture.topology !== topology.topology) {
    throw new SteepError(
      'capture.topology',
      `${capturePath} is a capture of topology ${capture.topology}, but ${configPath} is topology ${topology.topology}`,
    );
  }
  const observed = capturedCluster(topology, capture, capturePath);
  uncapturedRowFilters(topology, observed, capturePath);
  const plan = planFor(
    withMaskedPasswords(topology, capture),
    observed,
    opts.targets ?? [],
    resolveLsnFlags(topology, opts.lsn ?? []),
    opts.allowHazards,
  );
  const digests: Record<string, string> = {};
  for (const [name, n] of Object.entries(capture.nodes)) if (topology.nodes[name]) digests[name] = n.digest;
  return {
    topology,
    observed,
    plan: { ...plan, observed: { ...plan.observed, capture: { takenAt: capture.takenAt, nodes: digests } } },
    configWarnings: warnings,
  };
}

/** The nodes of a capture that cannot be read now, or whose catalog differs from it. */
export async function captureChanges(topology: Topology, capture: PlanCapture): Promise<string[]> {
  const live = await observe(topology, { everyTable: true });
  const changed: string[] = [];
  for (const [name, digest] of Object.entries(capture.nodes)) {
    const n = live.nodes[name];
    if (!n?.reachable) changed.push(`${name} cannot be read`);
    else if (nodeCatalogDigest(n) !== digest) changed.push(`${name}'s catalog differs from the capture`);
  }
  return changed;
}
