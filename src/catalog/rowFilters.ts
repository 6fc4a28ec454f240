import type pg from 'pg';
import type { ObservedTable } from '../model/cluster.js';
import { quoteTable } from '../model/sql.js';
import { postgresMessage } from './session.js';

/*
 * Row filter normalisation: how PostgreSQL prints each row filter of the desired file (the
 * deparse pg_get_expr(prqual, prrelid) gives for a publication), and PostgreSQL's message for
 * the filters it refuses. PostgreSQL 15+ (14 has no row filters; the planner reports that).
 *
 * Technique, without lasting side effects: in a transaction that is always rolled back,
 *   CREATE TEMP TABLE steep_rowfilter_N (LIKE schema.table)
 *   CREATE PUBLICATION … FOR TABLE <temp table> WHERE (<filter>)    -- the probe
 *   ALTER TABLE … ADD CONSTRAINT … CHECK (<filter>)                  -- the deparse
 * The probe validates the filter exactly as CREATE PUBLICATION will (no mutable or
 * user-defined functions, no system columns…), then fails, as intended, because a temporary
 * table cannot be published; any other error is the filter's, in CREATE PUBLICATION's words.
 * It needs CREATE on the database; without it only the CHECK validates (parse, columns, type).
 * The CHECK constraint's expression goes through the same transformation as a publication's
 * WHERE, so pg_get_expr(conbin, conrelid) prints what pg_get_expr(prqual, prrelid) will.
 * A SAVEPOINT per filter (and per table) keeps one bad filter from spoiling the rest.
 *
 * A filter over a virtual generated column (PostgreSQL 18) is stored expanded through the
 * column's expression (`y > 100` as `((x * 111) > 100)`), which the CHECK does not do: for a
 * table that has one, a permanent copy that keeps the generated columns
 * (`CREATE TABLE schema.steep_rowfilter_N (LIKE … INCLUDING GENERATED)`, rolled back like the
 * rest) is really published with the filter and PostgreSQL's own prqual read back. Without
 * CREATE on the schema or the database the CHECK's deparse stands.
 *
 * The filter is user text: every statement that contains it goes through the extended query
 * protocol (Parse/Bind/Execute), which accepts exactly one statement, so `true); DROP TABLE x; --`
 * fails to parse instead of running a second statement. Whatever the text does within that one
 * statement only touches the temporary table or the probe publication, and is rolled back.
 * The temporary table is empty, so no expression in a filter is ever evaluated.
 *
 * The columns a filter uses are read with it: the CHECK's conkey (the columns its expression
 * references), or for a filter stored expanded the columns its pg_publication_rel row depends on
 * (pg_depend, as CREATE PUBLICATION records them), which are those PostgreSQL checks against the
 * replica identity before an UPDATE or DELETE (pub_rf_contains_invalid_column).
 *
 * All statements are pipelined: one round trip for any number of filters.
 */

export interface RowFilterResult {
  /** `schema.table` → (as written → as PostgreSQL prints it) */
  rowFilters: Record<string, Record<string, string>>;
  /** `schema.table` → (as written → PostgreSQL's message) */
  rowFilterErrors: Record<string, Record<string, string>>;
  /** `schema.table` → (as written → the columns it uses, in column order) */
  rowFilterColumns: Record<string, Record<string, string[]>>;
}

type Settled = { ok: true; result: pg.QueryResult } | { ok: false; error: unknown };

/** node-postgres sends a query through the extended protocol when asked (`queryMode`, untyped). */
function extended(text: string): pg.QueryConfig {
  return { text, queryMode: 'extended' } as pg.QueryConfig;
}

/**
 * The probe publication's expected failure (a temporary table cannot be published), or an
 * error that says nothing about the filter (no CREATE on the database; the probe's name taken).
 */
function probeErrorIsNotTheFilters(err: unknown): boolean {
  const e = err as { code?: string; detail?: string };
  if (e.code === '22023' && /temporary/i.test(e.detail ?? '')) return true;
  return e.code === '42501' || e.code === '42710';
}

type Send = (q: string | pg.QueryConfig) => Promise<Settled>;

/** One filter's statements, sent; they settle once the pipeline has run. */
interface Check {
  key: string;
  filter: string;
  created: Promise<Settled>;
  check: Promise<Settled>;
  printed: Promise<Settled>;
  probe: Promise<Settled> | null;
  /** prqual of the filter on a copy that keeps virtual generated columns */
  stored: Promise<Settled> | null;
}

export async function normaliseRowFilters(
  client: pg.Client,
  tables: Record<string, ObservedTable>,
  filters: Record<string, string[]>,
  opts: { probePublication: boolean; lockTimeoutMs?: number },
): Promise<RowFilterResult> {
  const rowFilters: Record<string, Record<string, string>> = {};
  const rowFilterErrors: Record<string, Record<string, string>> = {};
  const rowFilterColumns: Record<string, Record<string, string[]>> = {};
  const fail = (key: string, filter: string, message: string) => {
    rowFilterErrors[key] ??= {};
    rowFilterErrors[key][filter] = message;
  };

  const sent: Promise<Settled>[] = [];
  const send: Send = (q) => {
    const settled = client.query(q).then(
      (result): Settled => ({ ok: true, result }),
      (error): Settled => ({ ok: false, error }),
    );
    sent.push(settled);
    return settled;
  };
  const checks = sendChecks(send, tables, filters, opts, fail);

  await Promise.all(sent);
  for (const c of checks) {
    const verdict = await checkVerdict(c);
    if (!verdict.ok) {
      fail(c.key, c.filter, verdict.message);
      continue;
    }
    rowFilters[c.key] ??= {};
    rowFilters[c.key]![c.filter] = verdict.expr;
    rowFilterColumns[c.key] ??= {};
    rowFilterColumns[c.key]![c.filter] = verdict.columns;
  }
  return { rowFilters, rowFilterErrors, rowFilterColumns };
}

/**
 * Every filter's statements, in one transaction that is rolled back: per table a temporary
 * copy, per filter the probe, the CHECK and its deparse, each behind a savepoint. A filter of a
 * table that does not exist fails at once.
 */
function sendChecks(
  send: Send,
  tables: Record<string, ObservedTable>,
  filters: Record<string, string[]>,
  opts: { probePublication: boolean; lockTimeoutMs?: number },
  fail: (key: string, filter: string, message: string) => void,
): Check[] {
  const checks: Check[] = [];
  let tableNo = 0;
  for (const [key, written] of Object.entries(filters)) {
    const unique = [...new Set(written)];
    if (unique.length === 0) continue;
    const table = tables[key];
    if (!table) {
      for (const f of unique) fail(key, f, `relation "${key}" does not exist`);
      continue;
    }
    if (checks.length === 0) {
      send('BEGIN');
      send(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs ?? 5_000))}`);
    }
    const temp = `pg_temp.steep_rowfilter_${tableNo++}`;
    send('SAVEPOINT steep_rowfilter_table');
    const created = send(`CREATE TEMP TABLE ${temp.slice('pg_temp.'.length)} (LIKE ${quoteTable(table)})`);
    const stored =
      table.virtualGenerated && opts.probePublication ? storedFilters(send, table, unique, tableNo) : null;
    for (const filter of unique) {
      send('SAVEPOINT steep_rowfilter');
      let probe: Promise<Settled> | null = null;
      if (opts.probePublication) {
        probe = send(
          extended(`CREATE PUBLICATION steep_rowfilter_probe FOR TABLE ${temp} WHERE (${filter})`),
        );
        send('ROLLBACK TO SAVEPOINT steep_rowfilter');
      }
      const check = send(extended(`ALTER TABLE ${temp} ADD CONSTRAINT steep_rowfilter CHECK (${filter})`));
      const printed = send(
        `SELECT pg_catalog.pg_get_expr(c.conbin, c.conrelid) AS expr, ` +
          `array(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = any (c.conkey) ORDER BY a.attnum) AS columns ` +
          `FROM pg_catalog.pg_constraint c WHERE c.conrelid = '${temp}'::regclass AND c.conname = 'steep_rowfilter'`,
      );
      send('ROLLBACK TO SAVEPOINT steep_rowfilter');
      checks.push({ key, filter, created, check, printed, probe, stored: stored?.get(filter) ?? null });
    }
    send('ROLLBACK TO SAVEPOINT steep_rowfilter_table');
  }
  if (checks.length > 0) send('ROLLBACK');
  return checks;
}

type Printed = { expr?: string; columns?: string[] } | undefined;

/** What PostgreSQL made of one filter: how it prints it and the columns it uses, or why it refuses it. */
async function checkVerdict(
  c: Check,
): Promise<{ ok: true; expr: string; columns: string[] } | { ok: false; message: string }> {
  const created = await c.created;
  if (!created.ok)
    return { ok: false, message: `cannot check the row filter: ${postgresMessage(created.error)}` };
  // the probe's message first: it is the one CREATE/ALTER PUBLICATION will give
  const probe = c.probe ? await c.probe : null;
  if (probe && !probe.ok && !probeErrorIsNotTheFilters(probe.error))
    return { ok: false, message: filterMessage(probe.error) };
  const check = await c.check;
  if (!check.ok) return { ok: false, message: filterMessage(check.error) };
  const printed = await c.printed;
  const stored = c.stored ? await c.stored : null;
  const storedRow = stored?.ok ? (stored.result.rows[0] as Printed) : undefined;
  const row =
    storedRow?.expr !== undefined ? storedRow : printed.ok ? (printed.result.rows[0] as Printed) : undefined;
  if (row?.expr === undefined)
    return {
      ok: false,
      message: `cannot check the row filter: ${printed.ok ? 'no expression' : postgresMessage(printed.error)}`,
    };
  return { ok: true, expr: row.expr, columns: row.columns ?? [] };
}

/**
 * PostgreSQL's message for a refused filter. A filter holding a second statement is refused by
 * the extended protocol, whose wording ("cannot insert multiple commands into a prepared
 * statement") does not say what is wrong with the filter: say it.
 */
function filterMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === '42601' && /multiple commands/.test(e.message ?? '')) {
    return 'it holds more than one SQL statement, and a row filter is a single expression';
  }
  return postgresMessage(err);
}

/**
 * The filters as PostgreSQL stores them for a table with virtual generated columns: each
 * published on a rolled-back permanent copy of the table, its prqual read back. Sent within the
 * caller's transaction; a copy or probe that fails (privileges, the probe's name taken) leaves
 * the filter to the CHECK's deparse.
 */
function storedFilters(
  send: Send,
  table: ObservedTable,
  filters: readonly string[],
  tableNo: number,
): Map<string, Promise<Settled>> {
  const out = new Map<string, Promise<Settled>>();
  const copy = quoteTable({ schema: table.schema, name: `steep_rowfilter_${tableNo}` });
  send('SAVEPOINT steep_rowfilter_copy');
  send(`CREATE TABLE ${copy} (LIKE ${quoteTable(table)} INCLUDING GENERATED)`);
  for (const filter of filters) {
    send('SAVEPOINT steep_rowfilter_stored');
    send(extended(`CREATE PUBLICATION steep_rowfilter_probe FOR TABLE ${copy} WHERE (${filter})`));
    out.set(
      filter,
      send(
        `SELECT pg_catalog.pg_get_expr(pr.prqual, pr.prrelid) AS expr, ` +
          `array(SELECT a.attname::text FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid ` +
          `WHERE d.classid = 'pg_catalog.pg_publication_rel'::regclass AND d.objid = pr.oid AND d.refobjid = pr.prrelid AND d.refobjsubid > 0 ORDER BY a.attnum) AS columns ` +
          `FROM pg_catalog.pg_publication_rel pr ` +
          `JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = 'steep_rowfilter_probe'`,
      ),
    );
    send('ROLLBACK TO SAVEPOINT steep_rowfilter_stored');
  }
  send('ROLLBACK TO SAVEPOINT steep_rowfilter_copy');
  return out;
}
