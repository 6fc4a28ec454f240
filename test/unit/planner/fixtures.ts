import { printAddress } from '../../../src/model/address.js';
import type {
  ClusterState,
  FailoverServer,
  ObservedNode,
  ObservedPublication,
  ObservedSlot,
  ObservedSubscription,
  ObservedTable,
  UnreachableNode,
} from '../../../src/model/cluster.js';
import { publisherConninfo } from '../../../src/model/conninfo.js';
import { formatOwnership, parseOwnership } from '../../../src/model/ownership.js';
import type { Plan } from '../../../src/model/plan.js';
import type { RoleFacts } from '../../../src/model/switchover.js';
import type {
  NodeSpec,
  PublicationSpec,
  PublicationTable,
  SubscriptionOptions,
  SubscriptionSpec,
  Topology,
} from '../../../src/model/topology.js';
import { effectiveGeneratedColumns, effectiveSubscriptionOptions } from '../../../src/planner/defaults.js';
import { sha256Hex } from '../../../src/planner/digest.js';
import { type PlanOptions, plan } from '../../../src/planner/index.js';
import { receivedFrom } from '../../../src/planner/publications/publishedRelations.js';

/**
 * Builders for planner tests: a desired Topology, and the observed ClusterState a converged
 * apply of it would leave (`observe`), which each test then bends into the situation it tests.
 */

export const TOPOLOGY = 'orders-eu';
export const PG14 = 140012;
export const PG15 = 150008;
export const PG16 = 160004;
export const PG17 = 170002;
export const PG18 = 180004;

export const MIGRATIONS = [
  {
    version: 1,
    statements: ['CREATE SCHEMA "steep"', 'CREATE TABLE "steep"."migrations" (version int primary key)'],
  },
  { version: 2, statements: ['CREATE TABLE "steep"."apply_log" (id bigserial primary key)'] },
];

export function nodeSpec(name: string, overrides: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name,
    connection: {
      host: `${name}.internal`,
      port: 5432,
      database: 'app',
      user: 'steep',
      password: `secret-${name}`,
    },
    priority: 100,
    sandbox: false,
    ...overrides,
  };
}

type TableInput = string | { table: string; columns?: string[]; where?: string };

function splitName(qn: string): { schema: string; name: string } {
  const dot = qn.indexOf('.');
  return dot < 0 ? { schema: 'public', name: qn } : { schema: qn.slice(0, dot), name: qn.slice(dot + 1) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function table(input: TableInput): PublicationTable {
  if (typeof input === 'string') return { ...splitName(input), columns: null, where: null };
  return {
    ...splitName(input.table),
    columns: input.columns ? [...input.columns].sort() : null,
    where: input.where ?? null,
  };
}

export function publication(
  name: string,
  node: string,
  opts: Partial<Omit<PublicationSpec, 'tables'>> & { tables?: TableInput[] } = {},
): PublicationSpec {
  const { tables, ...rest } = opts;
  return {
    name,
    node,
    allTables: false,
    tables: (tables ?? ['public.orders'])
      .map(table)
      .sort((a, b) => (a.schema === b.schema ? cmp(a.name, b.name) : cmp(a.schema, b.schema))),
    schemas: [],
    publish: ['insert', 'update', 'delete', 'truncate'],
    viaPartitionRoot: false,
    generatedColumns: null,
    protect: false,
    ...rest,
  };
}

export function subscription(
  name: string,
  node: string,
  from: string,
  publications: string[],
  opts: Partial<Omit<SubscriptionSpec, 'options'>> & { options?: Partial<SubscriptionOptions> } = {},
): SubscriptionSpec {
  return {
    name,
    node,
    from,
    publications: [...publications].sort(),
    slot: name,
    enabled: true,
    options: {},
    schemaSync: 'strict',
    init: { method: 'snapshot', parallel: 4, existingData: 'fail' },
    protect: false,
    ...opts,
  };
}

export function topology(input: {
  nodes?: Array<string | NodeSpec>;
  publications?: PublicationSpec[];
  subscriptions?: SubscriptionSpec[];
}): Topology {
  const pubs = input.publications ?? [];
  const subs = input.subscriptions ?? [];
  const names = input.nodes ?? [
    ...new Set([...pubs.map((p) => p.node), ...subs.flatMap((s) => [s.node, s.from])]),
  ];
  const nodes: Record<string, NodeSpec> = {};
  for (const n of names) {
    const spec = typeof n === 'string' ? nodeSpec(n) : n;
    nodes[spec.name] = spec;
  }
  return {
    version: 1,
    topology: TOPOLOGY,
    settings: {
      schemaSync: 'strict',
      stateSchema: 'steep',
      lockTimeout: 5000,
      statementTimeout: 0,
      connectTimeout: 10_000,
      parallel: 4,
      maxConnections: 16,
    },
    nodes,
    publications: Object.fromEntries(pubs.map((p) => [p.name, p])),
    subscriptions: Object.fromEntries(subs.map((s) => [s.name, s])),
    positions: {},
    source: { path: 'steep.yaml', digest: `sha256:${'fe'.repeat(32)}` },
  };
}

/** How the fixtures' PostgreSQL prints a row filter (pg_get_expr adds the outer parentheses). */
export function deparse(where: string): string {
  return `(${where})`;
}

export function versionText(v: number): string {
  return `${Math.floor(v / 10000)}.${v % 100}`;
}

/** An empty, healthy node: logical wal_level, room for slots, a superuser, steep's state schema current. */
export function observedNode(
  name: string,
  version = PG18,
  overrides: Partial<ObservedNode> = {},
): ObservedNode {
  return {
    name,
    reachable: true,
    serverVersion: version,
    serverVersionText: versionText(version),
    database: 'app',
    settings: {
      walLevel: 'logical',
      maxReplicationSlots: 10,
      maxWalSenders: 10,
      maxWorkerProcesses: 8,
      maxLogicalReplicationWorkers: 4,
      maxSyncWorkersPerSubscription: 2,
    },
    role: {
      name: 'steep',
      superuser: true,
      replication: true,
      canCreateInDatabase: true,
      canCreateSubscription: true,
      canReadConninfo: true,
    },
    publications: {},
    subscriptions: {},
    slots: {},
    origins: {},
    tables: {},
    stateSchema: { exists: true, version: 2 },
    rowFilters: {},
    rowFilterErrors: {},
    ...overrides,
  };
}

export function observedTable(qn: string, overrides: Partial<ObservedTable> = {}): ObservedTable {
  return {
    ...splitName(qn),
    oid: 16384,
    replicaIdentity: 'd',
    hasPrimaryKey: true,
    hasReplicaIdentity: true,
    kind: 'r',
    estimatedRows: 1000,
    sizeBytes: 65536,
    ...overrides,
  };
}

export function observedSlot(name: string, overrides: Partial<ObservedSlot> = {}): ObservedSlot {
  return {
    name,
    plugin: 'pgoutput',
    slotType: 'logical',
    database: 'app',
    active: false,
    activePid: null,
    walStatus: 'reserved',
    safeWalSize: null,
    retainedWalBytes: 123456789,
    confirmedFlushLsn: '0/3000000',
    restartLsn: '0/2000000',
    temporary: false,
    failover: null,
    ...overrides,
  };
}

export function unreachable(
  name: string,
  error = 'connection refused (is the server running on east.internal:5432?)',
): UnreachableNode {
  return { name, reachable: false, error };
}

/** The subscription's connection string as steep sets it, with and without the password. */
export function conninfoFor(t: Topology, publisher: string): { real: string; masked: string; hash: string } {
  const spec = t.nodes[publisher]!;
  // the publisher alone: steep never names its standbys (planner/failover/failover.ts)
  const masked = publisherConninfo(spec, { maskPassword: true, withStandbys: false });
  return {
    real: publisherConninfo(spec, { withStandbys: false }),
    masked,
    hash: sha256Hex(masked),
  };
}

export function observedPublication(t: Topology, p: PublicationSpec, version: number): ObservedPublication {
  const comment = formatOwnership({ topology: t.topology, protect: p.protect });
  return {
    name: p.name,
    node: p.node,
    allTables: p.allTables,
    tables: p.tables.map((x) => ({ ...x, where: x.where === null ? null : deparse(x.where) })),
    schemas: [...p.schemas],
    publish: [...p.publish],
    viaPartitionRoot: p.viaPartitionRoot,
    generatedColumns: effectiveGeneratedColumns(p.generatedColumns, version),
    oid: 20000,
    owner: 'steep',
    comment,
    managedBy: parseOwnership(comment),
  };
}

export function observedSubscription(
  t: Topology,
  s: SubscriptionSpec,
  version: number,
): ObservedSubscription {
  const conn = conninfoFor(t, s.from);
  const comment = formatOwnership({ topology: t.topology, connHash: conn.hash, protect: s.protect });
  return {
    name: s.name,
    node: s.node,
    from: s.from,
    publications: [...s.publications],
    slot: s.slot,
    enabled: s.enabled,
    oid: 30000,
    owner: 'steep',
    conninfo: conn.real,
    options: effectiveSubscriptionOptions(s.options, version),
    slotNone: false,
    comment,
    managedBy: parseOwnership(comment),
    tables: [],
    originLsn: '0/3000000',
  };
}

/**
 * What the nodes hold once the topology has been applied: every publication, subscription,
 * slot and published table in place, state schemas current.
 */
export function observe(
  t: Topology,
  opts: { version?: number; versions?: Record<string, number> } = {},
): ClusterState {
  const versionOf = (n: string) => opts.versions?.[n] ?? opts.version ?? PG18;
  const nodes: Record<string, ObservedNode> = {};
  for (const name of Object.keys(t.nodes)) nodes[name] = observedNode(name, versionOf(name));
  for (const p of Object.values(t.publications)) {
    const n = nodes[p.node]!;
    n.publications[p.name] = observedPublication(t, p, n.serverVersion);
    for (const x of p.tables) {
      const qn = `${x.schema}.${x.name}`;
      n.tables[qn] = observedTable(qn);
      if (x.where !== null) n.rowFilters[qn] = { ...n.rowFilters[qn], [x.where]: deparse(x.where) };
    }
  }
  for (const s of Object.values(t.subscriptions)) {
    const n = nodes[s.node]!;
    n.subscriptions[s.name] = observedSubscription(t, s, n.serverVersion);
    // pg_subscription_rel: what its publications publish, every relation ready
    const publisher = nodes[s.from]!;
    const shapes = s.publications.flatMap((p) => publisher.publications[p] ?? []);
    n.subscriptions[s.name]!.tables = receivedFrom(shapes, publisher.tables, publisher.serverVersion).map(
      (qn) => ({ ...splitName(qn), state: 'r' as const, lsn: null }),
    );
    nodes[s.from]!.slots[s.slot] = observedSlot(s.slot, {
      active: s.enabled,
      activePid: s.enabled ? 4242 : null,
    });
  }
  return { nodes };
}

/** The node of a converged state, to bend. */
export function at(state: ClusterState, name: string): ObservedNode {
  const n = state.nodes[name];
  if (!n?.reachable) throw new Error(`fixture: ${name} is not a reachable node`);
  return n;
}

export const NOW = new Date('2026-01-01T00:00:00Z');

export function runPlan(t: Topology, state: ClusterState, opts: Partial<PlanOptions> = {}): Plan {
  return plan(t, state, { steepVersion: '0.1.0', now: NOW, stateMigrations: MIGRATIONS, ...opts });
}

/** The SQL of every step, by address, for compact assertions. */
export function sqlOf(p: Plan, address: string): string[] {
  return p.steps
    .filter((s) => printAddress(s.address) === address)
    .flatMap((s) => s.statements.map((x) => x.sql));
}

/** The step at `address`; an `init` step that follows a create shares its address: see initStepAt. */
export function stepAt(p: Plan, address: string) {
  const steps = p.steps.filter((s) => printAddress(s.address) === address && s.action !== 'init');
  if (steps.length !== 1) throw new Error(`expected one step at ${address}, found ${steps.length}`);
  return steps[0]!;
}

/** The init step at `address` (it follows the subscription's create, or resumes a failed init). */
export function initStepAt(p: Plan, address: string) {
  const steps = p.steps.filter((s) => printAddress(s.address) === address && s.action === 'init');
  if (steps.length !== 1) throw new Error(`expected one init step at ${address}, found ${steps.length}`);
  return steps[0]!;
}

export function codes(messages: Array<{ code: string }>): string[] {
  return messages.map((m) => m.code);
}

/** A login role on a switchover's old primary that writes the subscribed tables, as preflight reads it. */
export function roleFacts(name: string, o: Partial<RoleFacts> = {}): RoleFacts {
  return {
    name,
    login: true,
    superuser: false,
    replication: false,
    writes: true,
    databaseSetting: null,
    ...o,
  };
}

/** A server's part in a failover: a primary of PostgreSQL 18 with nothing set, `overrides` on top. */
export function failoverServer(overrides: Partial<FailoverServer> = {}): FailoverServer {
  return {
    inRecovery: false,
    serverVersion: PG18,
    syncReplicationSlots: null,
    hotStandbyFeedback: null,
    primarySlotName: null,
    primaryConninfoHasDbname: null,
    synchronizedStandbySlots: [],
    slots: {},
    walLsn: null,
    ...overrides,
  };
}
