/**
 * The switchover's data fence (pure): a statement-level `BEFORE INSERT OR UPDATE OR DELETE OR
 * TRUNCATE` trigger on every published table of the old primary (and the partitioned tables
 * above and the partitions below them), calling one function in steep's state schema that raises SQLSTATE 25006 naming
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
 * removes all of it (each statement safe to run when part of the fence was never made). With
 * `side` 'new', the same fence on the new primary, as the rollback puts it there (the writes go
 * back to the old primary), made with OR REPLACE so that running the rollback twice is harmless.
 */
export function dataFence(
  facts: SwitchoverFacts,
  side: 'old' | 'new' = 'old',
): { fence: NodeSql[]; unfence: NodeSql[] } {
  const { subscription: sub } = facts;
  if (!facts.fence) return { fence: [], unfence: [] };
  const [on, to] = side === 'old' ? [facts.oldNode, facts.newNode] : [facts.newNode, facts.oldNode];
  const fn = fenceFunction(facts.fence.schema, sub);
  const trigger = quoteIdent(fenceTriggerName(sub));
  const why =
    side === 'old'
      ? `switchover of ${sub} moved its writes to ${to}`
      : `the rollback of ${sub}'s switchover moved its writes back to ${to}`;
  const hint =
    side === 'old'
      ? `steep switchover fenced this table on ${on}; write on ${to}. The rollback steep printed removes the fence.`
      : `the rollback steep printed fenced this table on ${on}; write on ${to}. The next switchover of ${sub} removes the fence.`;
  const replace = side === 'new' ? 'OR REPLACE ' : '';
  // steep's own sessions pass (a later merge or repair steep runs on the old primary): its role,
  // connected with the application_name every steep session sets (`steep <command>`): an
  // application of its own name, `steep-test` say, is fenced like any other writer
  const body = [
    'BEGIN',
    `  IF session_user = ${quoteLiteral(facts.steepRole)} AND pg_catalog.current_setting('application_name') LIKE 'steep %' THEN RETURN NULL; END IF;`,
    `  RAISE EXCEPTION USING ERRCODE = '25006', MESSAGE = pg_catalog.format('%I.%I is fenced: %s', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0]), HINT = TG_ARGV[1];`,
    'END',
  ].join('\n');
  const tables =
    side === 'new' && facts.fence.newTables ? facts.fence.newTables : facts.fence.tables.map((t) => t.table);
  return {
    fence: [
      {
        node: on,
        sql: `CREATE ${replace}FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuote(body)}`,
      },
      ...tables.map((t) => ({
        node: on,
        sql: `CREATE ${replace}TRIGGER ${trigger} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}(${quoteLiteral(why)}, ${quoteLiteral(hint)})`,
      })),
    ],
    unfence: removeFence(on, fn, trigger, tables),
  };
}

/** The statements that remove the fence of `fn` and `trigger` from `tables` on `node`. */
export function removeFence(node: string, fn: string, trigger: string, tables: readonly string[]): NodeSql[] {
  return [
    ...tables.map((t) => ({ node, sql: `DROP TRIGGER IF EXISTS ${trigger} ON ${t}` })),
    { node, sql: `DROP FUNCTION IF EXISTS ${fn}()` },
  ];
}

/** The fence an earlier rollback left on the new primary's tables (facts.newFenced), removed at the release. */
export function newPrimaryUnfence(facts: SwitchoverFacts): NodeSql[] {
  if (!facts.fence || !facts.newFenced?.length) return [];
  const fn = fenceFunction(facts.fence.schema, facts.subscription);
  return removeFence(facts.newNode, fn, quoteIdent(fenceTriggerName(facts.subscription)), facts.newFenced);
}

function dollarQuote(body: string): string {
  let tag = '$fence$';
  while (body.includes(tag)) tag = `$fence${tag.length}$`;
  return `${tag}\n${body}\n${tag}`;
}
