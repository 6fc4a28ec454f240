/**
 * The switchover's data fence (pure): a statement-level `BEFORE INSERT OR UPDATE OR DELETE OR
 * TRUNCATE` trigger on every published table of the old primary (and the partitioned tables
 * above them), calling one function in steep's state schema that raises SQLSTATE 25006 naming
 * the switchover. The role fence stops the roles it names; the trigger stops whoever runs the
 * statement — a role with a column-level grant, a SECURITY DEFINER function's caller, an owner,
 * a superuser's session — because it belongs to the table. It is enabled the default way
 * (`ENABLE`, origin): it does not fire in apply workers (`session_replication_role = replica`),
 * so the way back (`--reverse`) applies through it; other subscriptions writing into these
 * tables are refused in preflight (switchoverChecks.ts). steep's own sessions pass (its role,
 * with the `steep …` application_name it sets): a merge or repair it runs there later. A
 * superuser may still pass by setting `session_replication_role = replica` itself, or by
 * connecting as steep's role under steep's application_name: the release proof counts what it commits.
 */
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { NodeSql, SwitchoverFacts } from '../../model/switchover.js';

/** The trigger's name on each table: one per subscription, so two switchovers never share one. */
export function fenceTriggerName(subscription: string): string {
  return `steep_fence_${subscription}`.slice(0, 63);
}

/** The function the triggers call, in steep's state schema (quoted). */
export function fenceFunction(schema: string, subscription: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(`switchover_fence_${subscription}`.slice(0, 63))}`;
}

/**
 * The data fence on the old primary: the function, then one trigger per table; `unfence`
 * removes all of it (each statement safe to run when part of the fence was never made).
 */
export function dataFence(facts: SwitchoverFacts): { fence: NodeSql[]; unfence: NodeSql[] } {
  const { oldNode: old, newNode: neu, subscription: sub } = facts;
  if (!facts.fence) return { fence: [], unfence: [] };
  const fn = fenceFunction(facts.fence.schema, sub);
  const trigger = quoteIdent(fenceTriggerName(sub));
  const why = `switchover of ${sub} moved its writes to ${neu}`;
  const hint = `steep switchover fenced this table on ${old}; write on ${neu}. The rollback steep printed removes the fence.`;
  // steep's own sessions pass (a later merge or repair steep runs on the old primary): its role,
  // connected with the application_name every steep session sets (`steep <command>`): an
  // application of its own name, `steep-test` say, is fenced like any other writer
  const body = [
    'BEGIN',
    `  IF session_user = ${quoteLiteral(facts.steepRole)} AND pg_catalog.current_setting('application_name') LIKE 'steep %' THEN RETURN NULL; END IF;`,
    `  RAISE EXCEPTION USING ERRCODE = '25006', MESSAGE = pg_catalog.format('%I.%I is fenced: %s', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0]), HINT = TG_ARGV[1];`,
    'END',
  ].join('\n');
  const tables = facts.fence.tables.map((t) => t.table);
  return {
    fence: [
      {
        node: old,
        sql: `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuote(body)}`,
      },
      ...tables.map((t) => ({
        node: old,
        sql: `CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}(${quoteLiteral(why)}, ${quoteLiteral(hint)})`,
      })),
    ],
    unfence: [
      ...tables.map((t) => ({ node: old, sql: `DROP TRIGGER IF EXISTS ${trigger} ON ${t}` })),
      { node: old, sql: `DROP FUNCTION IF EXISTS ${fn}()` },
    ],
  };
}

function dollarQuote(body: string): string {
  let tag = '$fence$';
  while (body.includes(tag)) tag = `$fence${tag.length}$`;
  return `${tag}\n${body}\n${tag}`;
}
