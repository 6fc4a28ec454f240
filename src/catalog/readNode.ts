import type pg from 'pg';
import type { ObservedNode } from '../model/cluster.js';
import { SteepError } from '../model/errors.js';
import {
  type CopiedTableRow,
  type InitSlotRow,
  type SubscriptionStateRow,
  toInitState,
} from '../model/initStateRows.js';
import { isEmptyScope, type TableScope } from '../model/tableSchema.js';
import type { ConnectionSpec } from '../model/topology.js';
import { MIN_SERVER_VERSION, PG15 } from '../model/versions.js';
import { type CatalogQuery, type JsonArrayRow, jsonRows } from './queries/catalogQuery.js';
import { tableSchemaQueries } from './queries/columns.js';
import {
  copiedTablesQuery,
  type InitStateProbeRow,
  initSlotsQuery,
  initStateProbeQuery,
  subscriptionStatesQuery,
} from './queries/initState.js';
import {
  type ObjectDigestRow,
  type ObjectDigestsProbeRow,
  objectDigestsProbeQuery,
  objectDigestsQuery,
} from './queries/objectDigests.js';
import { type OriginRow, originsQuery, toOrigins } from './queries/origins.js';
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
import { SERVER_SETTINGS, type ServerSettingsRow, toServerInfo } from './queries/settings.js';
import { type SlotRow, slotsQuery, toSlots } from './queries/slots.js';
import {
  type MigrationVersionRow,
  migrationVersionQuery,
  type StateSchemaRow,
  stateSchemaQuery,
} from './queries/stateSchema.js';
import { STEEP_LOCK, type SteepLockRow } from './queries/steepLock.js';
import {
  OTHER_DATABASE_SUBSCRIPTIONS,
  type OtherDatabaseSubscriptionRow,
  SUBSCRIPTION_CONNINFO,
  SUBSCRIPTION_TABLES,
  type SubscriptionConninfoRow,
  type SubscriptionRow,
  type SubscriptionTableRow,
  subscriptionsQuery,
  toSubscriptions,
} from './queries/subscriptions.js';
import { TABLES, type TableRow, toTables } from './queries/tables.js';
import { normaliseRowFilters } from './rowFilters.js';
import { inOneWrite, openCatalogSession, rows } from './session.js';
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

/** Starts the snapshot every read shares. */
export const BEGIN_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/** What the first round trip learns; it decides which queries the second one sends. */
export interface NodeProbe {
  serverVersion: number;
  canReadConninfo: boolean;
  canReadOriginStatus: boolean;
  stateSchema: string;
  hasMigrations: boolean;
}

/** The first round trip: the server version and the privileges every branch depends on. */
export function probeQueries(stateSchema: string): CatalogQuery[] {
  return [SERVER_SETTINGS, ROLE, stateSchemaQuery(stateSchema), initStateProbeQuery(stateSchema), STEEP_LOCK];
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
    subscriptions: subscriptionsQuery(p.serverVersion),
    subscriptionConninfo: p.canReadConninfo ? SUBSCRIPTION_CONNINFO : null,
    subscriptionTables: SUBSCRIPTION_TABLES,
    otherDatabaseSubscriptions: OTHER_DATABASE_SUBSCRIPTIONS,
    slots: slotsQuery(p.serverVersion),
    origins: originsQuery(p.canReadOriginStatus),
    tables: TABLES,
    migrations: p.hasMigrations ? migrationVersionQuery(p.stateSchema) : null,
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
  const client = await openCatalogSession(conn, {
    node: opts.node,
    connectTimeoutMs: opts.connectTimeoutMs,
    statementTimeoutMs: opts.statementTimeoutMs,
  });
  try {
    // round trip 1: snapshot, version, role, state schema
    const [, settingsRows, roleRows, stateRows, initProbeRows, digestProbeRows, lockRows] = await inOneWrite(
      client,
      () =>
        Promise.all([
          client.query(BEGIN_SNAPSHOT),
          rows<ServerSettingsRow>(client, SERVER_SETTINGS),
          rows<RoleRow>(client, ROLE),
          rows<StateSchemaRow>(client, stateSchemaQuery(stateSchema)),
          rows<InitStateProbeRow>(client, initStateProbeQuery(stateSchema)),
          rows<ObjectDigestsProbeRow>(client, objectDigestsProbeQuery(stateSchema)),
          rows<SteepLockRow>(client, STEEP_LOCK),
        ]),
    );
    const server = toServerInfo(settingsRows[0]!);
    const v = server.serverVersion;
    if (v < MIN_SERVER_VERSION) {
      throw new SteepError(
        'unsupported-version',
        `node ${opts.node}: PostgreSQL ${server.serverVersionText} is not supported; steep needs PostgreSQL 14 or later`,
        { node: opts.node },
      );
    }
    const roleRow = roleRows[0]!;
    const srr = asksSessionReplicationRole(roleRow, v)
      ? (await rows<{ ok: boolean }>(client, SET_SESSION_REPLICATION_ROLE))[0]?.ok === true
      : undefined;
    const role = toRole(roleRow, v, srr);
    const state = stateRows[0]!;

    // round trip 2: everything else, then the snapshot ends
    const q = snapshotQueries({
      serverVersion: v,
      canReadConninfo: roleRow.can_read_conninfo,
      canReadOriginStatus: roleRow.can_read_origin_status,
      stateSchema,
      hasMigrations: state.has_migrations,
    });
    const scope = opts.tableScope;
    const initState = initProbeRows[0]?.readable === true;
    const copiedReadable = initState && initProbeRows[0]?.chunks_readable === true;
    const [
      pubs,
      pubTables,
      pubSchemas,
      subs,
      conninfo,
      subTables,
      otherSubRows,
      slots,
      origins,
      tables,
      migrations,
      defs,
      initStates,
      initSlots,
      copied,
      objectDigests,
    ] = await inOneWrite(client, () =>
      Promise.all([
        rows<PublicationRow>(client, q.publications),
        rows<JsonArrayRow>(client, q.publicationTables),
        maybe<PublicationSchemaRow>(client, q.publicationSchemas),
        rows<SubscriptionRow>(client, q.subscriptions),
        maybe<SubscriptionConninfoRow>(client, q.subscriptionConninfo),
        rows<JsonArrayRow>(client, q.subscriptionTables),
        rows<OtherDatabaseSubscriptionRow>(client, q.otherDatabaseSubscriptions),
        rows<SlotRow>(client, q.slots),
        rows<OriginRow>(client, q.origins),
        rows<JsonArrayRow>(client, q.tables),
        maybe<MigrationVersionRow>(client, q.migrations),
        scope && !isEmptyScope(scope)
          ? issueTableSchemaQueries(client, scope, stateSchema, { columns: !opts.fingerprintsOnly })
          : undefined,
        initState
          ? rows<SubscriptionStateRow>(client, subscriptionStatesQuery(stateSchema, opts.node))
          : null,
        initState ? rows<InitSlotRow>(client, initSlotsQuery(stateSchema, opts.node)) : null,
        copiedReadable ? rows<CopiedTableRow>(client, copiedTablesQuery(stateSchema, opts.node)) : null,
        digestProbeRows[0]?.readable === true
          ? rows<ObjectDigestRow>(client, objectDigestsQuery(stateSchema, opts.node))
          : null,
        client.query('COMMIT'),
      ]),
    );

    const observedOrigins = toOrigins(origins);
    const observedTables = toTables(jsonRows<TableRow>(tables));

    // round trip 3 (PG 15+, only with filters): row filter normalisation
    const filters = opts.rowFilters ?? {};
    const normalised =
      v >= PG15 && Object.keys(filters).length > 0
        ? await normaliseRowFilters(client, observedTables, filters, {
            probePublication: role.canCreateInDatabase,
          })
        : { rowFilters: {}, rowFilterErrors: {} };

    return {
      name: opts.node,
      reachable: true,
      serverVersion: v,
      serverVersionText: server.serverVersionText,
      database: server.database,
      server: server.server,
      settings: server.settings,
      role,
      publications: toPublications(
        opts.node,
        pubs,
        jsonRows<PublicationTableRow>(pubTables),
        pubSchemas ?? [],
      ),
      subscriptions: toSubscriptions(
        opts.node,
        subs,
        conninfo,
        jsonRows<SubscriptionTableRow>(subTables),
        (origin) => observedOrigins[origin]?.remoteLsn ?? null,
      ),
      slots: toSlots(slots),
      otherDatabaseSubscriptions: otherSubRows.map((r) => ({
        database: r.database,
        name: r.name,
        slot: r.slot,
        enabled: r.enabled,
      })),
      origins: observedOrigins,
      tables: observedTables,
      stateSchema: {
        exists: state.exists,
        version: migrations?.[0]?.version ?? null,
        canCreateIn: state.can_create_in_schema,
        owned: state.owns_schema,
      },
      steepLock: lockRows[0]
        ? {
            applicationName: lockRows[0].application_name,
            pid: lockRows[0].pid,
            since: lockRows[0].backend_start.toISOString(),
          }
        : null,
      rowFilters: normalised.rowFilters,
      rowFilterErrors: normalised.rowFilterErrors,
      ...(defs ? { tableSchemas: defs } : {}),
      ...(objectDigests
        ? { objectDigests: Object.fromEntries(objectDigests.map((r) => [r.address, r.digest])) }
        : {}),
      ...(initStates &&
      initSlots &&
      (initStates.length > 0 || initSlots.length > 0 || (copied?.length ?? 0) > 0)
        ? { initState: toInitState(initStates, initSlots, copied ?? []) }
        : {}),
    };
  } finally {
    await client.end().catch(() => {});
  }
}
