import type pg from 'pg';
import { LOCK_HOLDER_SQL } from '../db/advisoryLock.js';
import { withSession } from '../db/connect.js';
import type {
  ObservedNode,
  ObservedOrigin,
  ObservedSlot,
  OtherDatabaseSubscription,
} from '../model/cluster.js';
import { SteepError } from '../model/errors.js';
import type { ObservedInitSlot, ObservedSubscriptionState } from '../model/initState.js';
import type { LockHolder } from '../model/lockHolder.js';
import { isEmptyScope, type TableScope } from '../model/tableSchema.js';
import type { ConnectionSpec, TableName } from '../model/topology.js';
import { MIN_SERVER_VERSION, PG15 } from '../model/versions.js';
import { byName, type CatalogQuery, grouped, type JsonArrayRow, jsonRows } from './queries/catalogQuery.js';
import { tableSchemaQueries } from './queries/columns.js';
import { copiedTablesQuery, initSlotsQuery, subscriptionStatesQuery } from './queries/initState.js';
import { type ObjectDigestRow, objectDigestsQuery } from './queries/objectDigests.js';
import { originsQuery } from './queries/origins.js';
import {
  type PublicationRow,
  type PublicationSchemaRow,
  type PublicationTableRow,
  publicationSchemasQuery,
  publicationsQuery,
  publicationTablesQuery,
  toPublications,
} from './queries/publications.js';
import {
  asksSessionReplicationRole,
  ROLE,
  type RoleRow,
  SET_SESSION_REPLICATION_ROLE,
  toRole,
} from './queries/role.js';
import { SERVER_SETTINGS, type ServerInfo } from './queries/settings.js';
import { slotsQuery } from './queries/slots.js';
import {
  type MigrationVersionRow,
  migrationVersionQuery,
  type StateSchemaRow,
  stateSchemaQuery,
} from './queries/stateSchema.js';
import { type SteepDisableRow, steepDisablesQuery } from './queries/steepDisables.js';
import {
  OTHER_DATABASE_SUBSCRIPTIONS,
  SUBSCRIPTION_CONNINFO,
  SUBSCRIPTION_TABLES,
  type SubscriptionConninfoRow,
  type SubscriptionRow,
  type SubscriptionTableRow,
  subscriptionsQuery,
  toSubscriptions,
} from './queries/subscriptions.js';
import { type SwitchoverFenceRow, switchoverFencesQuery } from './queries/switchoverFences.js';
import { type TableRow, tablesQuery, toTables } from './queries/tables.js';
import { normaliseRowFilters } from './rowFilters.js';
import { allNamed, BEGIN_SNAPSHOT, inOneWrite, openCatalogSession, rows } from './session.js';
import { issueTableSchemaQueries } from './tableSchemas.js';

export const DEFAULT_STATE_SCHEMA = 'steep';

export interface ReadNodeOptions {
  /** the node's name in steep.yaml, for the result and error messages */
  node: string;
  /** steep's state schema on the node (settings.stateSchema) */
  stateSchema?: string;
  /** desired row filters on this node, `schema.table` → filters as written in steep.yaml */
  rowFilters?: Record<string, string[]>;
  /** tables whose columns and fingerprints to read (those subscriptions receive); none when absent */
  tableScope?: TableScope;
  /** read the fingerprints of `tableScope`'s tables, not their columns (`readTableColumns` reads those needed) */
  fingerprintsOnly?: boolean;
  connectTimeoutMs?: number;
  /** server-side limit per catalog query; 0 = none. Default 30 s. */
  statementTimeoutMs?: number;
}

/** What the first round trip learns; it decides which queries the second one sends. */
export interface NodeProbe {
  serverVersion: number;
  canReadConninfo: boolean;
  /** absent: false */
  canReadRowVersion?: boolean;
  canReadOriginStatus: boolean;
  stateSchema: string;
  hasMigrations: boolean;
}

/** The first round trip: the server version and the privileges every branch depends on. */
export function probeQueries(stateSchema: string) {
  return {
    settings: SERVER_SETTINGS,
    role: ROLE,
    state: stateSchemaQuery(stateSchema),
    // the session holding steep's advisory lock on this node's database, if any
    lock: { text: LOCK_HOLDER_SQL },
  } satisfies Record<string, CatalogQuery>;
}

/**
 * The second round trip: everything else, chosen by version and privileges. Exported so the
 * benchmark can send exactly the same SQL with psql.
 */
export function snapshotQueries(p: NodeProbe, tableScope?: TableScope, fingerprintsOnly = false) {
  return {
    publications: publicationsQuery(p.serverVersion),
    publicationTables: publicationTablesQuery(p.serverVersion),
    publicationSchemas: publicationSchemasQuery(p.serverVersion),
    subscriptions: subscriptionsQuery(p.serverVersion, p.canReadRowVersion === true),
    subscriptionConninfo: p.canReadConninfo ? SUBSCRIPTION_CONNINFO : null,
    subscriptionTables: SUBSCRIPTION_TABLES,
    otherDatabaseSubscriptions: OTHER_DATABASE_SUBSCRIPTIONS,
    slots: slotsQuery(p.serverVersion),
    origins: originsQuery(p.canReadOriginStatus),
    tables: tablesQuery(p.serverVersion),
    migrations: p.hasMigrations ? migrationVersionQuery(p.stateSchema) : null,
    switchoverFences: switchoverFencesQuery(p.stateSchema),
    ...(tableScope && !isEmptyScope(tableScope)
      ? tableSchemaQueries(tableScope, p.stateSchema, { columns: !fingerprintsOnly })
      : {}),
  } satisfies Record<string, CatalogQuery | null>;
}

function maybe<T>(client: pg.Client, q: CatalogQuery | null): Promise<T[] | null> {
  return q ? rows<T>(client, q) : Promise.resolve(null);
}

/**
 * Read one node's live state completely: all reads in one REPEATABLE READ READ ONLY
 * transaction (one consistent snapshot), pipelined in two round trips (probe, then the rest),
 * plus one more for row filter normalisation when there are filters and the server has them.
 *
 * Throws SteepError('connect') with describeConnectError's sentence when the node cannot be
 * reached; readCluster turns that into an UnreachableNode.
 */
export async function readNode(conn: ConnectionSpec, opts: ReadNodeOptions): Promise<ObservedNode> {
  const stateSchema = opts.stateSchema ?? DEFAULT_STATE_SCHEMA;
  return withSession(
    openCatalogSession(conn, {
      node: opts.node,
      connectTimeoutMs: opts.connectTimeoutMs,
      statementTimeoutMs: opts.statementTimeoutMs,
    }),
    async (client) => {
      const probe = await readProbe(client, opts.node, stateSchema);
      const snapshot = await readSnapshot(client, probe, opts);
      const tables = toTables(jsonRows<TableRow>(snapshot.tables));
      // round trip 3 (PG 15+, only with filters): row filter normalisation
      const filters = opts.rowFilters ?? {};
      const normalised =
        probe.server.serverVersion >= PG15 && Object.keys(filters).length > 0
          ? await normaliseRowFilters(client, tables, filters, {
              probePublication: probe.role.canCreateInDatabase,
            })
          : { rowFilters: {}, rowFilterErrors: {}, rowFilterColumns: {} };
      return observedNode(opts.node, probe, snapshot, tables, normalised);
    },
  );
}

/** What round trip 1 learns: the server, the role, steep's own schema and lock. */
type Probe = Awaited<ReturnType<typeof readProbe>>;

/** Round trip 1: begins the snapshot; refuses a server older than steep supports. */
async function readProbe(client: pg.Client, node: string, stateSchema: string) {
  const q = probeQueries(stateSchema);
  const r = await inOneWrite(client, () =>
    allNamed({
      begin: client.query(BEGIN_SNAPSHOT),
      settings: rows<ServerInfo>(client, q.settings),
      role: rows<RoleRow>(client, q.role),
      state: rows<StateSchemaRow>(client, q.state),
      lock: rows<LockHolder>(client, q.lock),
    }),
  );
  const server = r.settings[0]!;
  const v = server.serverVersion;
  if (v < MIN_SERVER_VERSION) {
    throw new SteepError(
      'unsupported-version',
      `node ${node}: PostgreSQL ${server.serverVersionText} is not supported; steep needs PostgreSQL 14 or later`,
      { node },
    );
  }
  const roleRow = r.role[0]!;
  const params = asksSessionReplicationRole(roleRow, v)
    ? (await rows<{ ok: boolean; log_ok: boolean }>(client, SET_SESSION_REPLICATION_ROLE))[0]
    : undefined;
  return {
    server,
    roleRow,
    role: toRole(roleRow, v, params && params.ok === true, params && params.log_ok === true),
    stateSchema,
    state: r.state[0]!,
    lock: r.lock[0],
  };
}

/** Round trip 2: everything else the probe allows, then the snapshot ends. */
function readSnapshot(client: pg.Client, p: Probe, opts: ReadNodeOptions) {
  const q = snapshotQueries({
    serverVersion: p.server.serverVersion,
    canReadConninfo: p.roleRow.can_read_conninfo,
    canReadRowVersion: p.roleRow.can_read_row_version === true,
    canReadOriginStatus: p.roleRow.can_read_origin_status,
    stateSchema: p.stateSchema,
    hasMigrations: p.state.has_migrations,
  });
  const scope = opts.tableScope;
  const initState = p.state.init_readable;
  return inOneWrite(client, () =>
    allNamed({
      publications: rows<PublicationRow>(client, q.publications),
      publicationTables: rows<JsonArrayRow>(client, q.publicationTables),
      publicationSchemas: maybe<PublicationSchemaRow>(client, q.publicationSchemas),
      subscriptions: rows<SubscriptionRow>(client, q.subscriptions),
      conninfo: maybe<SubscriptionConninfoRow>(client, q.subscriptionConninfo),
      subscriptionTables: rows<JsonArrayRow>(client, q.subscriptionTables),
      otherSubscriptions: rows<OtherDatabaseSubscription>(client, q.otherDatabaseSubscriptions),
      slots: rows<ObservedSlot>(client, q.slots),
      origins: rows<ObservedOrigin>(client, q.origins),
      tables: rows<JsonArrayRow>(client, q.tables),
      migrations: maybe<MigrationVersionRow>(client, q.migrations),
      tableSchemas:
        scope && !isEmptyScope(scope)
          ? issueTableSchemaQueries(client, scope, p.stateSchema, { columns: !opts.fingerprintsOnly })
          : undefined,
      initStates: initState
        ? rows<ObservedSubscriptionState>(client, subscriptionStatesQuery(p.stateSchema, opts.node))
        : null,
      initSlots: initState ? rows<ObservedInitSlot>(client, initSlotsQuery(p.stateSchema, opts.node)) : null,
      copied:
        initState && p.state.chunks_readable
          ? rows<{ subscription: string } & TableName>(client, copiedTablesQuery(p.stateSchema, opts.node))
          : null,
      objectDigests: p.state.digests_readable
        ? rows<ObjectDigestRow>(client, objectDigestsQuery(p.stateSchema, opts.node))
        : null,
      steepDisables:
        p.state.disables_readable && p.server.serverVersion >= PG15
          ? rows<SteepDisableRow>(client, steepDisablesQuery(p.stateSchema, opts.node))
          : null,
      switchoverFences: rows<SwitchoverFenceRow>(client, q.switchoverFences),
      commit: client.query('COMMIT'),
    }),
  );
}

/** The node as the planner sees it, from the rows of the two round trips. */
function observedNode(
  node: string,
  p: Probe,
  s: Awaited<ReturnType<typeof readSnapshot>>,
  tables: ObservedNode['tables'],
  normalised: Pick<ObservedNode, 'rowFilters' | 'rowFilterErrors' | 'rowFilterColumns'>,
): ObservedNode {
  const origins = byName(s.origins);
  return {
    name: node,
    reachable: true,
    serverVersion: p.server.serverVersion,
    serverVersionText: p.server.serverVersionText,
    database: p.server.database,
    server: p.server.server,
    settings: p.server.settings,
    role: p.role,
    publications: toPublications(
      node,
      s.publications,
      jsonRows<PublicationTableRow>(s.publicationTables),
      s.publicationSchemas ?? [],
    ),
    subscriptions: toSubscriptions(
      node,
      s.subscriptions,
      s.conninfo,
      jsonRows<SubscriptionTableRow>(s.subscriptionTables),
      (origin) => origins[origin]?.remoteLsn ?? null,
      new Map((s.steepDisables ?? []).map((r) => [r.subscription, r.errors])),
    ),
    slots: byName(s.slots),
    otherDatabaseSubscriptions: s.otherSubscriptions,
    origins,
    tables,
    stateSchema: {
      exists: p.state.exists,
      version: s.migrations?.[0]?.version ?? null,
      canCreateIn: p.state.can_create_in_schema,
      owned: p.state.owns_schema,
      ...(p.state.schema_owner !== null ? { owner: p.state.schema_owner } : {}),
      writable: p.state.schema_writable,
      notOwned: p.state.not_owned,
    },
    steepLock: p.lock ?? null,
    rowFilters: normalised.rowFilters,
    rowFilterErrors: normalised.rowFilterErrors,
    rowFilterColumns: normalised.rowFilterColumns,
    ...(s.tableSchemas ? { tableSchemas: s.tableSchemas } : {}),
    ...(s.objectDigests
      ? { objectDigests: Object.fromEntries(s.objectDigests.map((r) => [r.address, r.digest])) }
      : {}),
    ...(s.switchoverFences.length > 0 ? { switchoverFences: s.switchoverFences } : {}),
    ...(s.initStates && s.initSlots ? initState(s.initStates, s.initSlots, s.copied ?? []) : {}),
  };
}

/** steep's init records by subscription, none when there are none; the newest slot row wins (they come oldest first). */
function initState(
  states: ObservedSubscriptionState[],
  slots: ObservedInitSlot[],
  copied: Array<{ subscription: string } & TableName>,
): Pick<ObservedNode, 'initState'> {
  if (states.length + slots.length + copied.length === 0) return {};
  const by = <T extends { subscription: string }>(rs: T[]) =>
    Object.fromEntries(rs.map((r) => [r.subscription, r]));
  const tables = grouped(copied.map(({ subscription, ...t }) => [subscription, t] as const));
  return {
    initState: {
      subscriptions: by(states),
      slots: by(slots),
      ...(copied.length > 0 ? { copied: Object.fromEntries(tables) } : {}),
    },
  };
}
