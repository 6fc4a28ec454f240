import type { ForeignKeyEdge, LoadFacts, LoadGroup, LoadMode, LoadOrder } from '../../model/loadOrder.js';
import { compareText } from '../../model/order.js';
import { quoteIdent } from '../../model/sql.js';
import { quoteQualified } from '../../model/topology.js';
import { PG15 } from '../../model/versions.js';

/**
 * The order steep's own copy loads a subscriber's tables in when its role may not set
 * session_replication_role (pure; the plan and the copy both ask it). Every foreign key is then
 * checked as rows arrive, so a table loads after the tables it references: the tables' strongly
 * connected components (Tarjan) come out referenced first. A component of several tables (a
 * cycle) loads in one transaction with SET CONSTRAINTS ALL DEFERRED when its NOT DEFERRABLE
 * foreign keys alone form no cycle (those order the tables inside it); otherwise no order can
 * load it. A table that references itself is copied in one COPY statement (PostgreSQL checks a
 * NOT DEFERRABLE foreign key at the end of the statement); one that comes in several chunks all
 * the same (a snapshot's files) loads them in one transaction with its keys deferred, which a NOT
 * DEFERRABLE self-reference refuses. A foreign key to a table the load does not copy is checked
 * against the rows already there.
 */

export interface LoadOrderResult extends LoadOrder {
  /** foreign keys to tables outside the load */
  outside: ForeignKeyEdge[];
  /** cycles of NOT DEFERRABLE foreign keys: no order loads their tables */
  cycles: Array<{ tables: string[]; foreignKeys: ForeignKeyEdge[] }>;
  /** tables in several chunks that reference themselves through NOT DEFERRABLE foreign keys: no chunk may go first */
  splitSelf: Array<{ table: string; foreignKeys: ForeignKeyEdge[] }>;
}

/** Strongly connected components of `nodes` under `edges`, each emitted after those it reaches. */
function components(nodes: readonly string[], edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      out.push(scc.sort(compareText));
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return out;
}

function edgesOf(fks: readonly ForeignKeyEdge[]): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const fk of fks) {
    const to = edges.get(fk.table) ?? [];
    if (!to.includes(fk.references)) to.push(fk.references);
    edges.set(fk.table, to.sort(compareText));
  }
  return edges;
}

/**
 * `split`: the tables that come in several chunks whatever the order says (a snapshot's files,
 * generated before its load); the others are copied whole where they reference themselves.
 */
export function loadOrder(
  tables: readonly string[],
  foreignKeys: readonly ForeignKeyEdge[],
  split: readonly string[] = [],
): LoadOrderResult {
  const loaded = new Set(tables);
  const fks = [...foreignKeys]
    .filter((fk) => loaded.has(fk.table))
    .sort(
      (a, b) =>
        compareText(a.table, b.table) ||
        compareText(a.references, b.references) ||
        compareText(a.name, b.name),
    );
  const self = fks.filter((fk) => fk.table === fk.references);
  const whole = [...new Set(self.map((fk) => fk.table))];
  // a self-referencing table in several chunks: all of them in one transaction, its keys deferred
  const splitSelf = whole
    .filter((t) => split.includes(t))
    .map((table) => ({ table, foreignKeys: self.filter((fk) => fk.table === table && !fk.deferrable) }));
  const deferSelf = new Set(splitSelf.filter((s) => s.foreignKeys.length === 0).map((s) => s.table));
  const outside = fks.filter((fk) => !loaded.has(fk.references));
  const inner = fks.filter((fk) => fk.table !== fk.references && loaded.has(fk.references));
  const groups: LoadGroup[] = [];
  const cycles: LoadOrderResult['cycles'] = [];
  for (const scc of components([...loaded].sort(compareText), edgesOf(inner))) {
    const members = new Set(scc);
    const after = [
      ...new Set(
        inner.filter((fk) => members.has(fk.table) && !members.has(fk.references)).map((fk) => fk.references),
      ),
    ].sort(compareText);
    if (scc.length === 1) {
      groups.push({ tables: scc, after, deferred: deferSelf.has(scc[0]!) });
      continue;
    }
    // inside a cycle, only the NOT DEFERRABLE foreign keys order the tables (the others wait for COMMIT)
    const strict = inner.filter(
      (fk) => !fk.deferrable && members.has(fk.table) && members.has(fk.references),
    );
    const parts = components(scc, edgesOf(strict));
    const stuck = parts.filter((p) => p.length > 1);
    for (const p of stuck)
      cycles.push({
        tables: p,
        foreignKeys: strict.filter((fk) => p.includes(fk.table) && p.includes(fk.references)),
      });
    if (stuck.length === 0) groups.push({ tables: parts.flat(), after, deferred: true });
  }
  return {
    groups,
    whole,
    outside,
    cycles,
    splitSelf: splitSelf.filter((s) => s.foreignKeys.length > 0),
  };
}

/**
 * The tables `snapshot generate` writes as one file each for a subscriber whose role may not set
 * session_replication_role: those that reference themselves through a NOT DEFERRABLE foreign key,
 * which load only in one COPY statement. A DEFERRABLE one is split: its files load in one
 * transaction with the key deferred.
 */
export function unsplitTables(facts: LoadFacts): string[] {
  if (facts.replicaAllowed) return [];
  const strict = facts.foreignKeys.filter((fk) => fk.table === fk.references && !fk.deferrable);
  return [...new Set(strict.map((fk) => fk.table))].sort(compareText);
}

/** `two-phase` or steep's copy of a `snapshot` init (and whether it splits tables above init.splitAbove): how to avoid it. */
export interface OwnCopyUse {
  twoPhase: boolean;
  split: boolean;
  /**
   * `steep snapshot apply`: the subscription exists and its slot holds the snapshot, so another
   * init method is no way round (enabled as it is, it would stream into empty tables)
   */
  applying?: boolean;
}

/** The fix for a load the foreign-key order cannot make: the grant (15+), or PostgreSQL's copy. */
function fixText(node: string, role: string, serverVersion: number, use: OwnCopyUse): string {
  const grant = `run GRANT SET ON PARAMETER session_replication_role TO ${quoteIdent(role)}; on ${node}`;
  const only14 = '(on PostgreSQL 14 only a superuser may set session_replication_role)';
  if (use.applying)
    return serverVersion >= PG15 ? grant : `run steep snapshot apply as a superuser on ${node} ${only14}`;
  const other = use.twoPhase
    ? 'use init: { method: snapshot } so PostgreSQL copies'
    : `leave init.parallel out${use.split ? ' and raise init.splitAbove above the biggest table' : ''} so PostgreSQL copies`;
  return serverVersion >= PG15 ? `${grant}, or ${other}` : `${other} ${only14}`;
}

/** `ALTER TABLE "s"."t" ALTER CONSTRAINT "fk" DEFERRABLE;` */
function makeDeferrable(fk: ForeignKeyEdge): string {
  return `ALTER TABLE ${quoteQualified(fk.table)} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE;`;
}

/**
 * The sentences that refuse a load in foreign-key order (cycles of NOT DEFERRABLE foreign keys,
 * triggers that would fire) and those that warn of it (foreign keys to tables not loaded).
 */
export function loadProblems(
  where: { node: string; serverVersion: number; subscription: string },
  facts: LoadFacts,
  order: LoadOrderResult,
  use: OwnCopyUse,
): { errors: string[]; warnings: string[] } {
  const { node } = where;
  const why = `${node}: role ${facts.role} may not set session_replication_role, so steep's own copy loads the tables of subscription ${where.subscription} in foreign-key order`;
  const fix = fixText(node, facts.role, where.serverVersion, use);
  const errors: string[] = [];
  for (const c of order.cycles) {
    const named = c.foreignKeys.map((f) => `${f.name} (${f.table} → ${f.references})`);
    errors.push(
      `${why}, and the NOT DEFERRABLE foreign keys ${named.join(', ')} form a cycle that no order loads: ${fix}, ` +
        `or make one of them deferrable (${makeDeferrable(c.foreignKeys[0]!)})`,
    );
  }
  for (const { table, foreignKeys } of order.splitSelf) {
    const one = foreignKeys.length === 1;
    errors.push(
      `${why}, and ${table} references itself through the NOT DEFERRABLE foreign key${one ? '' : 's'} ${foreignKeys.map((f) => f.name).join(', ')} ` +
        `while the snapshot holds it in several files, one COPY statement each, at whose end PostgreSQL checks ${one ? 'it' : 'them'}, ` +
        `so a row whose referenced row is in a later file would fail: ${fix}, ` +
        `or make ${one ? 'it' : 'them'} deferrable (${foreignKeys.map(makeDeferrable).join(' ')}) and its files load in one transaction`,
    );
  }
  if (facts.originTriggers.length > 0)
    errors.push(
      `${why}, in which the trigger${facts.originTriggers.length === 1 ? '' : 's'} ${facts.originTriggers.join(', ')} would fire on every loaded row ` +
        `(replication does not fire ${facts.originTriggers.length === 1 ? 'it' : 'them'}): ${fix}`,
    );
  const warnings = order.outside.map(
    (fk) =>
      `${why}: ${fk.table} references ${fk.references} (foreign key ${fk.name}), which it does not copy, so each row is checked against the rows ${fk.references} holds on ${node}, ` +
      `and the copy fails on a row whose referenced row is missing there`,
  );
  return { errors, warnings };
}

/**
 * How steep's own copy loads `tables` (`schema.table`) on a subscriber: as replication does
 * where the role may set session_replication_role, else in foreign-key order, with what refuses
 * that order (errors) and what it checks against rows already there (warnings). `split`: the
 * tables that come in several chunks whatever the order says (a snapshot's files).
 */
export function planLoad(
  where: { node: string; serverVersion: number; subscription: string },
  facts: LoadFacts,
  tables: readonly string[],
  use: OwnCopyUse,
  split: readonly string[] = [],
): { mode: LoadMode; errors: string[]; warnings: string[] } {
  if (facts.replicaAllowed) return { mode: { replica: true }, errors: [], warnings: [] };
  const order = loadOrder(tables, facts.foreignKeys, split);
  return {
    mode: { replica: false, groups: order.groups, whole: order.whole },
    ...loadProblems(where, facts, order, use),
  };
}
