/**
 * The privilege half of preflight (docs/architecture.md, Inside the planner): the role steep connects as may do what each step
 * needs, checked in plan: CREATE on the database or the state schema, ownership of what it
 * alters or drops, CREATE SUBSCRIPTION, the functions a step calls, the load of steep's own copy.
 * A missing one is a plan error naming the node, the role, what needs it and the GRANT that fixes it.
 */

import { type Address, printAddress, subscriptionAddress } from '../../model/address.js';
import type { ObservedNode, ObservedTable } from '../../model/cluster.js';
import { INIT_METHOD } from '../../model/initMethods.js';
import { setOptionGrant } from '../../model/membershipGrant.js';
import { compareText } from '../../model/order.js';
import { connectionPassword } from '../../model/passwordVerifier.js';
import {
  cloudAdminNote,
  functionGrantAdvice,
  functionsCalled,
  isCloudAdminRole,
  stateSchemaGrants,
} from '../../model/privileges.js';
import { displayTable, quoteIdent } from '../../model/sql.js';
import { qualifiedName, type SubscriptionSpec, type TableName } from '../../model/topology.js';
import { PG15, PG16 } from '../../model/versions.js';
import { type DraftStep, type PlanContext, sortedKeys } from '../context.js';
import { effectiveSubscriptionOptions } from '../defaults.js';
import { copiedRelations } from '../init/initCopy.js';
import { checkOwnCopyLoad } from '../init/ownCopyLoad.js';

export function nameOf(step: DraftStep): string {
  const a = step.address;
  return a.kind === 'publication' || a.kind === 'subscription' ? a.name : '';
}

/** The role steep connects as may do what the steps need. */
export function checkPrivileges(ctx: PlanContext): void {
  const seen = new Set<string>();
  const fail = (node: string, message: string, address?: Address | string) => {
    if (seen.has(message)) return;
    seen.add(message);
    ctx.error('preflight.privilege', message, { node, address });
  };
  for (const step of ctx.steps) {
    const node = ctx.node(step.node);
    if (!node) continue;
    const role = node.role;
    const name = nameOf(step);
    const who = `role ${role.name}`;
    checkFunctions(ctx, step, fail);
    switch (step.kind) {
      case 'state-schema':
        checkStateSchema(ctx, node, fail);
        break;
      case 'subscription-init':
        if (step.changes.some((c) => c.path === 'init.copy' && c.after === 'steep'))
          checkLoad(ctx, node, name, fail);
        break;
      case 'publication-create': {
        if (!role.superuser && !role.canCreateInDatabase) {
          fail(
            node.name,
            `${node.name}: ${who} may not create publications (no CREATE on database ${node.database}); GRANT CREATE ON DATABASE ${quoteIdent(node.database)} TO ${quoteIdent(role.name)}`,
          );
        }
        const p = ctx.desired.publications[name];
        if (p && (p.allTables || p.schemas.length > 0) && !role.superuser) {
          fail(
            node.name,
            `${node.name}: publication ${name} uses ${p.allTables ? 'FOR ALL TABLES' : 'TABLES IN SCHEMA'}, which needs a superuser, and ${who} is not one; ` +
              `list its tables instead (tables: [${coveredTables(ctx, node, p.allTables ? null : p.schemas).join(', ')}]) in steep.yaml`,
            step.address,
          );
        }
        if (step.action === 'replace') checkOwner(node, 'publication', name, fail, step.address);
        checkTableOwners(ctx, node, name, step.action === 'replace', fail, step.address);
        break;
      }
      case 'publication-alter': {
        checkOwner(node, 'publication', name, fail, step.address);
        checkTableOwners(ctx, node, name, false, fail, step.address);
        const p = ctx.desired.publications[name];
        if (p && p.schemas.length > 0 && step.changes.some((c) => c.path === 'schemas') && !role.superuser) {
          fail(
            node.name,
            `${node.name}: publication ${name} sets TABLES IN SCHEMA, which needs a superuser, and ${who} is not one; ` +
              `list its tables instead (tables: [${coveredTables(ctx, node, p.schemas).join(', ')}]) in steep.yaml`,
            step.address,
          );
        }
        break;
      }
      case 'publication-drop':
        checkOwner(node, 'publication', name, fail, step.address);
        break;
      case 'subscription-create': {
        checkCreateSubscription(ctx, node, fail);
        if (step.action === 'replace') checkOwner(node, 'subscription', name, fail, step.address);
        const d = ctx.desired.subscriptions[name];
        if (d) checkPassfile(ctx, node, name, d.from, fail, step.address);
        if (d) warnLoggedPassword(ctx, node, name, d.from, 'CREATE SUBSCRIPTION');
        if (d) checkReplicationRole(ctx, d.from, fail);
        if (d) checkSetRoleToOwners(ctx, node, d, fail, step.address);
        // two-phase: `steep snapshot apply` loads the files with steep's own copy
        if (d && INIT_METHOD[d.init.method].ownCopy === 'always') checkLoad(ctx, node, name, fail);
        break;
      }
      case 'subscription-alter': {
        const d = ctx.desired.subscriptions[name];
        if (d && step.statements.some((st) => /\bCONNECTION '/.test(st.sql))) {
          checkPassfile(ctx, node, name, d.from, fail, step.address);
          warnLoggedPassword(ctx, node, name, d.from, 'ALTER SUBSCRIPTION … CONNECTION');
          // the new connection's user starts a WAL sender on the publisher
          checkReplicationRole(ctx, d.from, fail);
        }
        checkOwner(node, 'subscription', name, fail, step.address);
        // its workers apply as each table's owner on behalf of its owner, steep's role once it
        // altered or took it over (another role's before: ALTER … OWNER TO steep's role)
        if (d) checkSetRoleToOwners(ctx, node, d, fail, step.address);
        break;
      }
      case 'subscription-drop':
        checkOwner(node, 'subscription', name, fail, step.address);
        break;
      default:
        break;
    }
  }
}

type Fail = (node: string, message: string, address?: Address | string) => void;

/**
 * 16+, runAsOwner false: the apply and table-sync workers switch to each table's owner, which
 * the subscription's owner (steep's role) must be able to SET ROLE to; without it every change
 * of that table fails in the worker, where the role cannot read why.
 */
function checkSetRoleToOwners(
  ctx: PlanContext,
  node: ObservedNode,
  d: SubscriptionSpec,
  fail: Fail,
  address: Address,
): void {
  if (node.role.superuser || effectiveSubscriptionOptions(d.options, node.serverVersion).runAsOwner !== false)
    return;
  const role = quoteIdent(node.role.name);
  for (const [owner, tables] of byOwner(node, copiedRelations(ctx, d), (t) => t.canSetRole === false))
    fail(
      node.name,
      `${node.name}: subscription ${d.name} applies changes as each table's owner (runAsOwner: false), and role ${node.role.name} may not SET ROLE to ${owner}, which owns ${tables.join(', ')}; ` +
        `run GRANT ${quoteIdent(owner)} TO ${role} WITH SET TRUE; on ${node.name}, or set runAsOwner: true on the subscription`,
      address,
    );
}

/** The observed tables among `tables` on `node` that `lacks`, by owner (also `steep grants`' owner roles). */
export function byOwner(
  node: ObservedNode,
  tables: readonly TableName[],
  lacks: (t: ObservedTable) => boolean,
): Array<[string, string[]]> {
  const owners = new Map<string, string[]>();
  for (const t of tables) {
    const local = node.tables[qualifiedName(t)];
    if (!local?.owner || !lacks(local)) continue;
    owners.set(local.owner, [...(owners.get(local.owner) ?? []), displayTable(t)]);
  }
  return [...owners].sort(([a], [b]) => compareText(a, b));
}

/** steep's own copy of `name` on `node` without session_replication_role: it loads in foreign-key order (ownCopyLoad.ts). */
function checkLoad(ctx: PlanContext, node: ObservedNode, name: string, fail: Fail): void {
  const d = ctx.desired.subscriptions[name];
  if (!d) return;
  // steep's own copy writes the rows as steep's role
  if (!node.role.superuser)
    for (const [owner, tables] of byOwner(node, copiedRelations(ctx, d), (t) => t.canInsert === false))
      fail(
        node.name,
        `${node.name}: steep's own copy of subscription ${name} inserts the rows as role ${node.role.name}, which may not insert into ${tables.join(', ')} (owner ${owner}); ` +
          `run GRANT INSERT ON ${tables.join(', ')} TO ${quoteIdent(node.role.name)}; on ${node.name}`,
        subscriptionAddress(name),
      );
  const { errors, warnings } = checkOwnCopyLoad(ctx.desired, ctx.observed, node, d);
  for (const e of errors) fail(node.name, e, subscriptionAddress(name));
  for (const w of warnings)
    ctx.warn('preflight.load-order', w, { node: node.name, address: subscriptionAddress(name) });
}

/** The tables FOR ALL TABLES (schemas null) or TABLES IN SCHEMA would publish, as a YAML list. */
function coveredTables(ctx: PlanContext, node: ObservedNode, schemas: string[] | null): string[] {
  const state = ctx.desired.settings.stateSchema;
  return sortedKeys(node.tables)
    .map((qn) => node.tables[qn]!)
    .filter((t) => !t.unlogged && t.schema !== state && (schemas === null || schemas.includes(t.schema)))
    .map((t) => displayTable(t));
}

/** What a step is, for a message: `the init of subscription west_orders`. */
function stepText(step: DraftStep): string {
  const name = nameOf(step);
  switch (step.kind) {
    case 'subscription-init':
      return `the init of subscription ${name}`;
    case 'merge-init':
      return `the merge init of ${name ? `subscription ${name}` : printAddress(step.address)}`;
    default:
      return `step ${printAddress(step.address)} (${step.kind})`;
  }
}

/**
 * Every statement's restricted functions (the replication-origin functions,
 * pg_logical_emit_message) on the node it runs on: a merge init's statements run on both nodes,
 * so both are checked before anything is written.
 */
function checkFunctions(ctx: PlanContext, step: DraftStep, fail: Fail): void {
  for (const statement of step.statements) {
    const at = statement.node ?? step.node;
    const node = ctx.node(at);
    const gaps = node?.role.gaps;
    if (!node || !gaps || node.role.superuser) continue;
    for (const fn of functionsCalled(statement.sql)) {
      const signature = gaps.functions[fn];
      if (!signature) continue;
      fail(
        at,
        `${at}: role ${node.role.name} may not execute ${fn}, which ${stepText(step)} calls; ` +
          functionGrantAdvice(signature, node.role.name, at),
        step.address,
      );
    }
  }
}

/** steep's state schema: created (CREATE on the database), or pre-created and writable by the role. */
function checkStateSchema(ctx: PlanContext, node: ObservedNode, fail: Fail): void {
  const role = node.role;
  if (role.superuser) return;
  const schema = ctx.desired.settings.stateSchema;
  const state = node.stateSchema;
  if (!state.exists && !role.canCreateInDatabase) {
    fail(
      node.name,
      `${node.name}: role ${role.name} may not create steep's state schema ${schema} (no CREATE on database ${node.database}); ` +
        `run GRANT CREATE ON DATABASE ${quoteIdent(node.database)} TO ${quoteIdent(role.name)}; ` +
        `or CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${quoteIdent(role.name)}; on ${node.name}`,
    );
  } else if (state.exists && (state.writable === false || state.canCreateIn === false)) {
    // grants its owner may run, never a change of owner (a cloud admin may not give its schema away)
    const owner = state.owner ?? 'its owner';
    fail(
      node.name,
      `${node.name}: role ${role.name} may not use steep's state schema ${schema} (its owner is ${owner}); ` +
        `run ${stateSchemaGrants(schema, role.name).join(' ')} on ${node.name} as ${owner} (or a member of it)`,
    );
  }
}

function checkOwner(
  node: ObservedNode,
  kind: 'publication' | 'subscription',
  name: string,
  fail: Fail,
  address: Address,
): void {
  const pub = kind === 'publication' ? node.publications[name] : undefined;
  const o = pub ?? (kind === 'subscription' ? node.subscriptions[name] : undefined);
  if (!o || node.role.superuser || o.owner === node.role.name) return;
  const head = `${node.name}: role ${node.role.name} does not own ${kind} ${name} (its owner is ${o.owner}), and only its owner or a superuser may alter, adopt or drop it; `;
  // PostgreSQL refuses a non-superuser owner for these: the hint must be one that works
  const superuserOnly =
    kind === 'subscription' && node.serverVersion < PG16
      ? 'before PostgreSQL 16 the owner of a subscription must be a superuser'
      : pub && (pub.allTables || pub.schemas.length > 0)
        ? `the owner of a ${pub.allTables ? 'FOR ALL TABLES' : 'TABLES IN SCHEMA'} publication must be a superuser`
        : null;
  // whoever runs ALTER … OWNER TO as the owner must be able to SET ROLE to the new owner (16+;
  // a member of it before): a cloud admin that created steep's role holds only ADMIN OPTION on it
  const become = o.ownerToRole?.canSetRole === false ? o.ownerToRole : undefined;
  const join = become
    ? `${setOptionGrant(node.role.name, o.owner, become.member, node.serverVersion)} ` +
      (node.serverVersion >= PG16
        ? `(as a role with ADMIN OPTION on ${node.role.name}, such as ${o.owner} if it created it: ALTER … OWNER TO needs ${o.owner} to be able to SET ROLE to ${node.role.name}), `
        : `(as a role with CREATEROLE: ALTER … OWNER TO needs ${o.owner} to be a member of ${node.role.name}), `) +
      `then as ${o.owner} `
    : '';
  fail(
    node.name,
    superuserOnly
      ? `${head}${superuserOnly}: run steep as ${o.owner} or a superuser on ${node.name}`
      : // the new owner of a publication or subscription needs CREATE on the database
        `${head}run ${node.role.canCreateInDatabase ? '' : `GRANT CREATE ON DATABASE ${quoteIdent(node.database)} TO ${quoteIdent(node.role.name)}; `}` +
          `${join}ALTER ${kind.toUpperCase()} ${quoteIdent(name)} OWNER TO ${quoteIdent(node.role.name)} on ${node.name}`,
    address,
  );
}

/**
 * CREATE SUBSCRIPTION: a superuser; from 16 a member of pg_create_subscription with CREATE on the
 * database. Before 16 the managed services let the members of their admin role create them too
 * (they patch the server): relied on, and said so in a warning.
 */
function checkCreateSubscription(ctx: PlanContext, node: ObservedNode, fail: Fail): void {
  const role = node.role;
  if (role.superuser) return;
  if (node.serverVersion < PG16) {
    const cloud = role.cloudAdminRole;
    if (cloud !== undefined && isCloudAdminRole(cloud)) {
      const note = `${node.name}: ${cloudAdminNote(role.name, cloud)}`;
      if (!ctx.warnings.some((w) => w.message === note))
        ctx.warn('preflight.cloud-admin', note, { node: node.name });
      return;
    }
    fail(
      node.name,
      `${node.name}: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role ${role.name} is not one; run steep as a superuser on ${node.name}`,
    );
    return;
  }
  if (!role.canCreateSubscription && role.memberOfCreateSubscription !== true) {
    fail(
      node.name,
      `${node.name}: role ${role.name} may not create subscriptions; GRANT pg_create_subscription TO ${quoteIdent(role.name)}`,
    );
  }
  if (!role.canCreateInDatabase) {
    fail(
      node.name,
      `${node.name}: role ${role.name} may not create subscriptions (no CREATE on database ${node.database}); GRANT CREATE ON DATABASE ${quoteIdent(node.database)} TO ${quoteIdent(role.name)}`,
    );
  }
}

/**
 * 16+: PostgreSQL refuses a subscription connection without `password=` when its owner is not a
 * superuser (password_required, which only a superuser may turn off): with `replicationPassfile`
 * CREATE SUBSCRIPTION would fail after the publication was made ("password is required").
 */
function checkPassfile(
  ctx: PlanContext,
  node: ObservedNode,
  name: string,
  from: string,
  fail: Fail,
  address: Address,
): void {
  const passfile = ctx.desired.nodes[from]?.replicationPassfile;
  if (passfile === undefined || node.role.superuser || node.serverVersion < PG16) return;
  fail(
    node.name,
    `${node.name}: subscription ${name} would read its password for ${from} from replicationPassfile, and PostgreSQL 16+ refuses a connection without a password for a subscription owned by role ${node.role.name}, who is not a superuser ` +
      `(only a superuser may set password_required = false); remove replicationPassfile from node ${from} in steep.yaml (steep then writes the node's password into the subscription's connection), or run steep as a superuser on ${node.name}`,
    address,
  );
}

/**
 * A failed statement carrying a password is logged by the server with its text (default
 * log_min_error_statement = error); steep sets it to panic for that statement where the role may
 * (runStep.ts). Where it may not, plan says so and names the grant.
 */
function warnLoggedPassword(
  ctx: PlanContext,
  node: ObservedNode,
  name: string,
  from: string,
  what: string,
): void {
  const publisher = ctx.desired.nodes[from];
  const gaps = node.role.gaps;
  if (!publisher || connectionPassword(publisher) === undefined || node.role.superuser) return;
  if (gaps?.setLogMinErrorStatement !== false) return;
  const fix =
    node.serverVersion >= PG15
      ? `run GRANT SET ON PARAMETER log_min_error_statement TO ${quoteIdent(node.role.name)}; on ${node.name} as a superuser, and steep keeps it out`
      : 'before PostgreSQL 15 only a superuser may set log_min_error_statement';
  ctx.warn(
    'preflight.logged-password',
    `${node.name}: if ${what} of subscription ${name} fails, ${node.name}'s server logs the statement with the password for ${from} (log_min_error_statement), and role ${node.role.name} may not set log_min_error_statement to keep it out; ${fix}`,
    { node: node.name, address: subscriptionAddress(name) },
  );
}

/** Subscribers connect to the publisher as the replication user: it needs REPLICATION (checked when it is steep's own role). */
function checkReplicationRole(ctx: PlanContext, publisher: string, fail: Fail): void {
  const spec = ctx.desired.nodes[publisher];
  const node = ctx.node(publisher);
  if (!spec || !node) return;
  const user = (spec.replicationConnection ?? spec.connection).user;
  if (user !== node.role.name) return;
  if (node.role.replication || node.role.superuser) return;
  fail(
    publisher,
    `${publisher}: subscribers connect as role ${user}, which lacks the REPLICATION attribute; run ALTER ROLE ${quoteIdent(user)} REPLICATION on ${publisher}`,
  );
}

/**
 * CREATE PUBLICATION … FOR TABLE and ALTER PUBLICATION … ADD TABLE: PostgreSQL lets only a
 * table's owner (or a member of its owner role, or a superuser) publish it. The tables the step
 * adds (every one when it creates the publication afresh) that the role does not own.
 */
function checkTableOwners(
  ctx: PlanContext,
  node: ObservedNode,
  name: string,
  fresh: boolean,
  fail: Fail,
  address: Address,
): void {
  const p = ctx.desired.publications[name];
  if (node.role.superuser || !p || p.allTables) return;
  const had = new Set(fresh ? [] : (node.publications[name]?.tables ?? []).map(qualifiedName));
  const added = p.tables.filter((t) => !had.has(qualifiedName(t)));
  for (const [owner, tables] of byOwner(node, added, (t) => t.owned === false))
    fail(
      node.name,
      `${node.name}: role ${node.role.name} does not own ${tables.join(', ')} (owner ${owner}), and only a table's owner may publish it in publication ${name}; ` +
        `run GRANT ${quoteIdent(owner)} TO ${quoteIdent(node.role.name)}; on ${node.name} (a member of the owner role may), or run steep as ${owner}`,
      address,
    );
}
