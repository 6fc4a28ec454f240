import type { ObservedNode, Ownership } from '../../model/cluster.js';
import { INIT_METHOD, restoredByUser } from '../../model/initMethods.js';
import { setOptionGrant } from '../../model/membershipGrant.js';
import { compareText } from '../../model/order.js';
import {
  FUNCTION_GRANTORS,
  functionSignature,
  grantFunction,
  type NodeGrants,
  type RestrictedFunction,
  stateSchemaGrants,
} from '../../model/privileges.js';
import { displayTable, quoteIdent } from '../../model/sql.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { startsUnderLocks } from '../../model/topology.js';
import { PG15, PG16 } from '../../model/versions.js';
import { migrationStatements, ownerOnly, pendingMigrations, type StateMigration } from '../stateSchema.js';
import { byOwner } from './preflightPrivileges.js';

/**
 * `steep grants` (pure): per node, the SQL the cloud's admin role (rds_superuser,
 * cloudsqlsuperuser, azure_pg_admin: CREATEROLE, not a superuser) runs once, as it is, with
 * `psql -v ON_ERROR_STOP=1`, so that steep's role can do what the file's topology needs there.
 * Read from the node (`node` given), it holds only what the role lacks, with the owners of its
 * tables named; with `--pg-version` alone, all it may lack. It never takes a table from its owner
 * (the role joins the owner role) and never alters the admin itself. What only a superuser may
 * grant, and what only a switchover needs, are comments saying so.
 */

export interface GrantFacts {
  serverVersion: number;
  /** the node as steep's role read it; absent with --pg-version */
  node?: ObservedNode;
}

const MERGE_FUNCTIONS: RestrictedFunction[] = [
  'pg_replication_origin_create',
  'pg_replication_origin_drop',
  'pg_replication_origin_session_setup',
  'pg_replication_origin_session_reset',
  'pg_replication_origin_session_is_setup',
];

export function grantScripts(
  topology: Topology,
  facts: Record<string, GrantFacts>,
  migrations: readonly StateMigration[],
): NodeGrants[] {
  return Object.keys(topology.nodes)
    .sort(compareText)
    .map((name) => {
      const spec = topology.nodes[name]!;
      const f = facts[name]!;
      const role = spec.connection.user;
      const subs = Object.values(topology.subscriptions).filter((s) => s.node === name);
      const feeds = Object.values(topology.subscriptions).filter((s) => s.from === name);
      const lacks = lacking(f.node);
      const lines: string[] = [
        ...(lacks.createInDatabase
          ? [
              "-- CREATE PUBLICATION, CREATE SUBSCRIPTION and steep's state schema (steep creates it) need CREATE on the database",
              `GRANT CREATE ON DATABASE ${quoteIdent(spec.connection.database)} TO ${quoteIdent(role)};`,
            ]
          : []),
        ...stateSchemaLines(topology, name, f.node, migrations),
        ...ownerLines(topology, name, f),
        ...publisherGrants(topology, name, f),
        ...(subs.length > 0 ? subscriberGrants(topology, subs, role, f) : []),
        ...([...subs, ...feeds].some((s) => startsUnderLocks(s.init))
          ? functionGrants(
              MERGE_FUNCTIONS,
              f,
              role,
              '-- merge init (links): its writes carry a replication origin, so the other side does not send them back',
            )
          : []),
        ...(feeds.length > 0 ? switchoverNotes(name, role, f.serverVersion) : []),
      ];
      if (lines.every((l) => l.startsWith('--')))
        lines.unshift(`-- nothing to grant: role ${role} holds what the file needs on ${name}`);
      return { node: name, serverVersion: f.serverVersion, role, lines: lines.flatMap((l) => l.split('\n')) };
    });
}

/**
 * steep's state schema made by another role (an admin ran steep first): its owner grants the role
 * what steep does there, never gives the schema away; a migration this steep needs that alters
 * what only that owner may alter runs here first, as it (then the grants cover what it created).
 * Not read: a comment saying so.
 */
function stateSchemaLines(
  file: Topology,
  name: string,
  node: ObservedNode | undefined,
  migrations: readonly StateMigration[],
): string[] {
  const schema = file.settings.stateSchema;
  const role = file.nodes[name]!.connection.user;
  const state = node?.stateSchema;
  if (!node)
    return [
      `-- if steep's state schema ${schema} already exists under another role (an admin ran steep first), its owner grants:`,
      ...stateSchemaGrants(schema, role).map((g) => `--   ${g}`),
    ];
  if (node.role.superuser || !state?.exists) return [];
  const pending = pendingMigrations(state, migrations);
  const owned = ownerOnly(file, state, pending);
  if (!owned && state.writable !== false) return [];
  return [
    ...(state.version === null
      ? [
          `-- steep's state schema ${schema} may call for a migration that only its owner may run: once these grants let ${role} read its version, steep grants names it`,
        ]
      : []),
    ...(owned
      ? [
          `-- steep's state schema ${schema} is at version ${state.version ?? 'none'}; this steep needs migration${pending.length > 1 ? 's' : ''} ` +
            `${pending.map((m) => m.version).join(', ')}, which only ${owned.owner}, the owner of ${schema}.${owned.object}, may run: run as it`,
          'BEGIN;',
          ...migrationStatements(file, name, state, pending).map((sql) => `${sql};`),
          'COMMIT;',
        ]
      : []),
    `-- steep's state schema ${schema} belongs to ${state.owner ?? 'another role'}: run by it (or a member of it), these let ${role} use it; the schema keeps its owner`,
    ...stateSchemaGrants(schema, role),
  ];
}

/**
 * The publications and subscriptions steep manages on the node (the file's, and this topology's
 * that it no longer declares, which its plan drops) that another role owns (an admin ran steep
 * first); never one steep did not make: steep's plan asks that owner to give them to the role (ALTER … OWNER), which it
 * may run only once it may SET ROLE to the role (16+; a member of it before). The owner is made
 * able to, taking nothing away (model/membershipGrant.ts); the objects keep their owner until it
 * gives them. Not read: nothing is known of them. Before 16 a subscription's owner, and always
 * that of a FOR ALL TABLES or TABLES IN SCHEMA publication, must be a superuser: no GRANT helps.
 */
function ownerLines(topology: Topology, name: string, f: GrantFacts): string[] {
  const node = f.node;
  if (!node || node.role.superuser) return [];
  const role = topology.nodes[name]!.connection.user;
  const manages = (o: { name: string; managedBy: Ownership | null }, declaredOn: string | undefined) =>
    declaredOn === name || o.managedBy?.topology === topology.topology;
  const owned = [
    ...Object.values(node.publications)
      .filter(
        (p) => manages(p, topology.publications[p.name]?.node) && !p.allTables && p.schemas.length === 0,
      )
      .map((p) => ['publication', p] as const),
    ...(f.serverVersion >= PG16
      ? Object.values(node.subscriptions)
          .filter((o) => manages(o, topology.subscriptions[o.name]?.node))
          .map((o) => ['subscription', o] as const)
      : []),
  ].filter(([, o]) => o.ownerToRole?.canSetRole === false);
  const owners = [...new Set(owned.map(([, o]) => o.owner))].sort(compareText);
  return owners.flatMap((owner) => {
    const objects = owned.filter(([, o]) => o.owner === owner);
    return [
      `-- ${objects.map(([kind, o]) => `${kind} ${o.name}`).join(', ')} ${objects.length === 1 ? 'belongs' : 'belong'} to ${owner}: steep plan asks ${owner} to give ${objects.length === 1 ? 'it' : 'them'} to ${role} (ALTER … OWNER), ` +
        (f.serverVersion >= PG16
          ? `which needs ${owner} to be able to SET ROLE to ${role}`
          : `which needs ${owner} to be a member of ${role}`),
      setOptionGrant(role, owner, objects[0]![1].ownerToRole!.member, f.serverVersion),
    ];
  });
}

/** What the role lacks, as read; everything when not read. */
function lacking(node: ObservedNode | undefined) {
  const r = node?.role;
  const su = r?.superuser === true;
  return {
    createInDatabase: !su && r?.canCreateInDatabase !== true,
    replication: !su && r?.replication !== true,
    createSubscription: !su && r?.memberOfCreateSubscription !== true && r?.canCreateSubscription !== true,
    sessionReplicationRole: !su && r?.gaps?.setSessionReplicationRole !== true,
    fn: (fn: RestrictedFunction) => !su && (r?.gaps === undefined || r.gaps.functions[fn] !== undefined),
  };
}

/** The role joins each owner role (the application keeps its tables), or, not read, says how. */
function joinOwners(
  found: Array<[string, string[]]> | null,
  role: string,
  options: string,
  why: string,
): string[] {
  if (found === null)
    return [
      `-- ${why}: GRANT each table's owner role TO ${quoteIdent(role)}${options}; (steep plan names them)`,
    ];
  if (found.length === 0) return [];
  return [
    `-- ${why}`,
    ...found.map(
      ([owner, tables]) =>
        `GRANT ${quoteIdent(owner)} TO ${quoteIdent(role)}${options}; -- owns ${tables.join(', ')}`,
    ),
  ];
}

/** What node `name` needs to publish and to feed subscribers; none when it does neither. */
function publisherGrants(topology: Topology, name: string, f: GrantFacts): string[] {
  const spec = topology.nodes[name]!;
  const role = spec.connection.user;
  const pubs = Object.values(topology.publications).filter((p) => p.node === name);
  const feeds = Object.values(topology.subscriptions).filter((s) => s.from === name);
  if (pubs.length === 0 && feeds.length === 0) return [];
  const repl = (spec.replicationConnection ?? spec.connection).user;
  const lines: string[] = [];
  // the replication user's attributes are read only when it is steep's role
  if (repl !== role || lacking(f.node).replication)
    lines.push(
      f.serverVersion >= PG16
        ? `-- subscribers connect as ${repl} (RDS: GRANT rds_replication TO ${quoteIdent(repl)}; instead)\nALTER ROLE ${quoteIdent(repl)} REPLICATION;`
        : `-- subscribers connect as ${repl}, and before 16 only a superuser may give REPLICATION (RDS: GRANT rds_replication TO ${quoteIdent(repl)};): ALTER ROLE ${quoteIdent(repl)} REPLICATION;`,
    );
  const tables = pubs.flatMap((p) => p.tables);
  if (tables.length > 0) {
    lines.push(
      ...joinOwners(
        f.node ? byOwner(f.node, tables, (t) => t.owned === false) : null,
        role,
        f.serverVersion >= PG16 ? ' WITH INHERIT TRUE' : '',
        "CREATE PUBLICATION … FOR TABLE: only a table's owner, or a member of its owner role, may publish it",
      ),
    );
    if (repl !== role) {
      const shown = [...new Set(tables.map((t) => displayTable(t)))].sort(compareText);
      lines.push(
        `-- the initial copy reads them as ${repl}`,
        `GRANT SELECT ON ${shown.join(', ')} TO ${quoteIdent(repl)};`,
      );
    }
  }
  if (pubs.some((p) => p.allTables || p.schemas.length > 0))
    lines.push(
      '-- FOR ALL TABLES and TABLES IN SCHEMA need a superuser, which no grant gives: list the tables in steep.yaml',
    );
  return lines;
}

/** What a node needs to run its subscriptions, by their init methods. */
function subscriberGrants(
  topology: Topology,
  subs: SubscriptionSpec[],
  role: string,
  f: GrantFacts,
): string[] {
  const r = quoteIdent(role);
  const v = f.serverVersion;
  const lacks = lacking(f.node);
  const lines: string[] = [];
  if (v < PG16)
    lines.push(
      `-- CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, or a member of the managed service's admin role (RDS: GRANT rds_superuser TO ${r}; Cloud SQL: cloudsqlsuperuser; Azure: azure_pg_admin); steep's plan says which membership it relies on`,
    );
  else if (lacks.createSubscription)
    lines.push('-- CREATE SUBSCRIPTION (16+)', `GRANT pg_create_subscription TO ${r};`);
  if (v >= PG16 && subs.some((s) => s.options.runAsOwner !== true)) {
    const tables = subs.flatMap((s) => s.publications.flatMap((p) => topology.publications[p]?.tables ?? []));
    lines.push(
      ...joinOwners(
        f.node ? byOwner(f.node, tables, (t) => t.canSetRole === false) : null,
        role,
        ' WITH SET TRUE',
        `runAsOwner false: the subscription's workers apply as each table's owner, so ${role} must be able to SET ROLE to it`,
      ),
    );
  }
  lines.push(
    `-- steep sequences sync sets the subscribed tables' sequences (setval): ${role} owns them, is a member of their owner, or holds SELECT, UPDATE on each (steep sequences sync names any it may not set)`,
  );
  if (subs.some((s) => restoredByUser(s.init.method)))
    lines.push(
      ...functionGrants(
        ['pg_replication_origin_advance'],
        f,
        role,
        "-- manual init: the subscription starts at the restored data's LSN",
      ),
    );
  if (
    subs.some(
      (s) =>
        INIT_METHOD[s.init.method].ownCopy === 'always' ||
        (INIT_METHOD[s.init.method].ownCopy === 'chosen' && s.init.parallelDeclared),
    ) &&
    lacks.sessionReplicationRole
  )
    lines.push(
      "-- steep's own copy (init.parallel, two-phase): with session_replication_role = replica, foreign keys and triggers do not fire while tables load in parallel;",
      '-- without it, tables load in foreign-key order (a cycle of NOT DEFERRABLE foreign keys, or a user trigger on them, is then a plan error)',
      // a cloud admin holds no SET on it WITH GRANT OPTION: run as it is, the line would stop the script
      v >= PG15
        ? `-- only a superuser may grant it: GRANT SET ON PARAMETER session_replication_role TO ${r};`
        : '-- on PostgreSQL 14 only a superuser may set it',
    );
  if (lacks.fn('pg_replication_origin_progress'))
    lines.push(
      "-- optional, and only a superuser may grant it: switchover reads the drain from the origin (without it, from the slot's confirmed position)",
      `-- ${grantFunction(functionSignature('pg_replication_origin_progress', v), role)}`,
    );
  return lines;
}

/**
 * EXECUTE on the functions the role may not call (all of them when not read), as comments:
 * PostgreSQL revokes them from PUBLIC, and only a superuser, or a role holding EXECUTE on them
 * WITH GRANT OPTION, may grant them; a cloud admin role without it is refused, which would stop
 * the script where the admin runs it with ON_ERROR_STOP.
 */
function functionGrants(fns: RestrictedFunction[], f: GrantFacts, role: string, why: string): string[] {
  const missing = fns.filter((fn) => lacking(f.node).fn(fn));
  if (missing.length === 0) return [];
  return [
    why,
    `-- ${FUNCTION_GRANTORS} may grant these:`,
    ...missing.map((fn) => `-- ${grantFunction(functionSignature(fn, f.serverVersion), role)}`),
  ];
}

/** A switchover is an operation, not the file's: what it needs, as comments to run when one is planned. */
function switchoverNotes(name: string, role: string, v: number): string[] {
  const r = quoteIdent(role);
  return [
    `-- only for steep switchover from ${name} (its --dry-run names each role and GRANT it lacks): the fence makes the application's roles read-only and ends their sessions`,
    `--   ALTER ROLE ${r} CREATEROLE;`,
    `--   GRANT pg_signal_backend TO ${r};`,
    v >= PG16
      ? `--   for each application role the dry-run names (16+: ALTER ROLE needs ADMIN OPTION on it): GRANT that role TO ${r} WITH ADMIN OPTION;`
      : '--   before 16, CREATEROLE may alter every role that is not a superuser',
    `-- and with --reverse (the way back to ${name}): ${v >= PG16 ? 'pg_create_subscription' : 'a superuser (before 16)'} and CREATE on the database for ${role} on ${name}, REPLICATION for ${role} on the new primary`,
  ];
}
