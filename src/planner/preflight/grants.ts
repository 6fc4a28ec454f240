import { compareText } from '../../model/order.js';
import {
  functionSignature,
  grantFunction,
  type NodeGrants,
  type RestrictedFunction,
} from '../../model/privileges.js';
import { displayTable, quoteIdent } from '../../model/sql.js';
import {
  qualifiedName,
  type SubscriptionSpec,
  type Topology,
  tableOfQualified,
} from '../../model/topology.js';
import { PG15, PG16, PG18 } from '../../model/versions.js';

/**
 * `steep grants` (pure): per node, the SQL a superuser (or the cloud's admin role:
 * rds_superuser, cloudsqlsuperuser, azure_pg_admin) runs once so that steep's role, never a
 * superuser, can do what the file's topology needs there: the state schema, publications and
 * the replication user on a publisher, subscriptions and their inits on a subscriber, the
 * replication-origin functions a merge (links) calls, and the switchover's fence on a
 * publisher. Version aware: pg_create_subscription from 16, SET ON PARAMETER from 15, ADMIN
 * OPTION for ALTER ROLE from 16; what a version cannot grant is a comment saying so.
 */

const MERGE_FUNCTIONS: RestrictedFunction[] = [
  'pg_replication_origin_create',
  'pg_replication_origin_drop',
  'pg_replication_origin_session_setup',
  'pg_replication_origin_session_reset',
  'pg_replication_origin_session_is_setup',
];

export function grantScripts(topology: Topology, versions: Record<string, number>): NodeGrants[] {
  return Object.keys(topology.nodes)
    .sort(compareText)
    .map((name) => {
      const spec = topology.nodes[name]!;
      const v = versions[name] ?? PG18;
      const role = spec.connection.user;
      const r = quoteIdent(role);
      const subs = Object.values(topology.subscriptions).filter((s) => s.node === name);
      const feeds = Object.values(topology.subscriptions).filter((s) => s.from === name);
      const lines: string[] = [
        `-- steep's state schema, and CREATE PUBLICATION / CREATE SUBSCRIPTION (both need CREATE on the database)`,
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(topology.settings.stateSchema)} AUTHORIZATION ${r};`,
        `GRANT CREATE ON DATABASE ${quoteIdent(spec.connection.database)} TO ${r};`,
        ...publisherGrants(topology, name, v),
        ...(subs.length > 0 ? subscriberGrants(subs, role, v) : []),
      ];
      if ([...subs, ...feeds].some((s) => s.init.method === 'merge'))
        lines.push(
          '-- merge init (links), on both nodes: its writes carry a replication origin, so the other side does not send them back',
          ...MERGE_FUNCTIONS.map((fn) => grantFunction(functionSignature(fn, v), role)),
        );
      return { node: name, serverVersion: v, role, lines: lines.flatMap((l) => l.split('\n')) };
    });
}

/** What node `name` needs to publish and to feed subscribers (and be switched over from); none when it does neither. */
function publisherGrants(topology: Topology, name: string, v: number): string[] {
  const spec = topology.nodes[name]!;
  const role = spec.connection.user;
  const r = quoteIdent(role);
  const pubs = Object.values(topology.publications).filter((p) => p.node === name);
  const feeds = Object.values(topology.subscriptions).filter((s) => s.from === name);
  if (pubs.length === 0 && feeds.length === 0) return [];
  const repl = (spec.replicationConnection ?? spec.connection).user;
  const tables = [...new Set(pubs.flatMap((p) => p.tables.map((t) => qualifiedName(t))))].sort(compareText);
  const lines = [
    `-- publisher: subscribers connect as ${repl} (RDS: GRANT rds_replication TO ${quoteIdent(repl)}; Cloud SQL / Azure: ALTER ROLE … REPLICATION)`,
    `ALTER ROLE ${quoteIdent(repl)} REPLICATION;`,
  ];
  if (tables.length > 0) {
    const shown = tables.map((qn) => displayTable(tableOfQualified(qn)));
    lines.push(
      `-- CREATE PUBLICATION … FOR TABLE needs ${role} to own each table; the initial copy reads them as ${repl}`,
      ...shown.map((t) => `ALTER TABLE ${t} OWNER TO ${r};`),
      ...(repl === role ? [] : [`GRANT SELECT ON ${shown.join(', ')} TO ${quoteIdent(repl)};`]),
    );
  }
  if (feeds.length > 0)
    lines.push(
      `-- steep sequences sync (and switchover) read the subscribed tables' sequences as ${role}: it owns them or holds SELECT: GRANT SELECT ON SEQUENCE <sequence> TO ${r};`,
    );
  if (pubs.some((p) => p.allTables || p.schemas.length > 0))
    lines.push(
      '-- FOR ALL TABLES and TABLES IN SCHEMA need a superuser, which no grant gives: list the tables in steep.yaml',
    );
  if (feeds.length > 0)
    lines.push(
      `-- switchover from ${name}: the fence makes the application roles read-only (ALTER ROLE) and ends their sessions`,
      `ALTER ROLE ${r} CREATEROLE;`,
      `GRANT pg_signal_backend TO ${r};`,
      v >= PG16
        ? `-- each role the fence makes read-only (16+: ALTER ROLE needs ADMIN OPTION on it): GRANT <app_role> TO ${r} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; (when ${r} is a member of it already: GRANT <app_role> TO ${r} WITH ADMIN OPTION; alone, as naming INHERIT or SET changes the membership it has)`
        : '-- before 16, CREATEROLE may alter every role that is not a superuser',
    );
  return lines;
}

/** What a node needs to run its subscriptions, by their init methods. */
function subscriberGrants(subs: SubscriptionSpec[], role: string, v: number): string[] {
  const r = quoteIdent(role);
  const lines = [
    v >= PG16
      ? `-- subscriber: CREATE SUBSCRIPTION (16+)\nGRANT pg_create_subscription TO ${r};`
      : `-- subscriber: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, or a member of the managed service's admin role, which the service lets create subscriptions (RDS: GRANT rds_superuser TO ${r}; Cloud SQL: cloudsqlsuperuser; Azure: azure_pg_admin); steep's plan says which membership it relies on`,
    `-- apply writes as the subscription's owner: ${role} owns the subscribed tables (or holds INSERT, UPDATE, DELETE, TRUNCATE on them)`,
    `-- steep sequences sync sets their sequences (setval): ${role} owns them or holds SELECT, UPDATE: GRANT SELECT, UPDATE ON SEQUENCE <sequence> TO ${r};`,
  ];
  if (subs.some((s) => s.init.method === 'manual'))
    lines.push(
      "-- manual init: the subscription starts at the restored data's LSN",
      grantFunction(functionSignature('pg_replication_origin_advance', v), role),
    );
  if (
    subs.some(
      (s) => s.init.method === 'two-phase' || (s.init.method === 'snapshot' && s.init.parallelDeclared),
    )
  )
    lines.push(
      "-- steep's own copy (init.parallel, two-phase): with session_replication_role = replica, foreign keys and triggers do not fire while tables load in parallel;",
      '-- without it, tables load in foreign-key order (a cycle of NOT DEFERRABLE foreign keys, or a user trigger on them, is then a plan error)',
      v >= PG15
        ? `GRANT SET ON PARAMETER session_replication_role TO ${r};`
        : '-- on PostgreSQL 14 only a superuser may set it',
    );
  lines.push(
    "-- optional: switchover reads the drain from the origin (without it, from the slot's confirmed position)",
    grantFunction(functionSignature('pg_replication_origin_progress', v), role),
  );
  return lines;
}
