/**
 * The rollback `steep switchover` prints (pure): the new primary fenced as the old one was (its
 * roles, then the data fence on its tables), what no fence stops checked, then with `--reverse`
 * the way back drained and removed, without it the rows only the new primary holds counted;
 * then the old primary's sequences, its fence removed, the application pointed back.
 */
import { adviceText } from '../../model/advice.js';
import { inboundSubscriptionsSql } from '../../model/inboundSubscriptions.js';
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import type { NodeSql, RollbackCommand, SwitchoverFacts, SwitchoverOptions } from '../../model/switchover.js';
import { PREPARED_SQL, readOnlySql, terminateSql } from './roleFence.js';

/**
 * What no fence on the new primary stops, checked before the writes go back. A transaction
 * prepared there commits with COMMIT PREPARED, which fires no trigger and needs no login: it is
 * finished before the data fence, whose CREATE TRIGGER would wait for it (once the trigger
 * stands no new one can write the tables). A subscription of its own applying into the tables
 * fires no ordinary trigger: checked after the fence.
 */
function preparedCheck(facts: SwitchoverFacts): RollbackCommand {
  const { newNode: neu, oldNode: old } = facts;
  return {
    node: neu,
    sql: PREPARED_SQL,
    why: `repeat until it returns no row: a transaction prepared on ${neu} commits through every fence; have the application finish each (COMMIT PREPARED 'gid' keeps its rows for ${old} to receive, ROLLBACK PREPARED discards them)`,
  };
}

/**
 * A subscription moved to the new primary (docs/switchover.md "Inbound subscriptions") applies
 * under its own origin: the way back (`origin = none`) never sends those rows, nor does anything
 * without `--reverse`, and verify counts them with the application's. They are copied by hand.
 */
function inboundCheck(facts: SwitchoverFacts): RollbackCommand[] {
  const { subscription: sub, newNode: neu, oldNode: old } = facts;
  const tables = (facts.fence?.tables ?? []).map((t) => quoteLiteral(t.table));
  if (tables.length === 0) return [];
  return [
    {
      node: neu,
      sql: inboundSubscriptionsSql(`ARRAY[${tables.join(', ')}]`, quoteLiteral(sub)),
      why:
        `repeat until it returns no row: another subscription on ${neu} applying into these tables passes the fence: disable each (ALTER SUBSCRIPTION name DISABLE); ` +
        `the rows it applied on ${neu} are only there (no way back carries another origin's rows) and steep verify cannot tell them from the application's, ` +
        `so once ${old}'s fence is removed, before the application is pointed back at ${old}, copy to ${old} by hand every row of its tables ${neu} holds and ${old} lacks ` +
        `(one the application deletes on ${old} first would come back), then move it back to ${old}`,
    },
  ];
}

export function rollbackCommands(
  facts: SwitchoverFacts,
  opts: SwitchoverOptions,
  p: {
    roles: string[];
    fenceNew: NodeSql[];
    unfence: NodeSql[];
    slot: string;
    reverse: string | null;
    reverseSlot: string | null;
  },
): RollbackCommand[] {
  const { subscription: sub, oldNode: old, newNode: neu } = facts;
  // the new primary is fenced as the switchover fenced the old one: both never take writes at once
  const out: RollbackCommand[] = [
    ...p.roles.flatMap((r) => [
      {
        node: neu,
        sql: readOnlySql(r, facts.newDatabase),
        why: `fence ${r} on ${neu} (where it exists): new sessions start read-only`,
      },
      {
        node: neu,
        sql: `ALTER ROLE ${quoteIdent(r)} NOLOGIN`,
        why: `and cannot log in, so no session can turn the read-only default off`,
      },
    ]),
    {
      node: neu,
      sql: terminateSql(p.roles, false).replace('$1', 'now()'),
      why: `end their sessions on ${neu}`,
    },
    preparedCheck(facts),
    // the roles' fence misses a column grant's or a definer function's writer: the tables' own
    ...p.fenceNew.map((f, i) => ({
      node: f.node,
      sql: f.sql,
      why:
        i === 0
          ? `the data fence on ${neu}, for every writer the roles' fence misses (a column grant, a SECURITY DEFINER function's caller, a superuser's session): its function`
          : `and its trigger (each waits for the transactions writing its table)`,
    })),
    ...(p.fenceNew.length > 0 ? inboundCheck(facts) : []),
  ];
  if (p.reverse) {
    out.push(
      {
        node: neu,
        sql: `SELECT pg_catalog.pg_logical_emit_message(true, 'steep', ${quoteLiteral(`rollback of ${sub}: fence`)})`,
        why: `once no session of theirs is left: flush ${neu}'s WAL past every write they committed, asynchronous ones included`,
      },
      {
        node: neu,
        sql: `SELECT confirmed_flush_lsn >= pg_catalog.pg_current_wal_insert_lsn() AS drained FROM pg_catalog.pg_replication_slots WHERE slot_name = ${quoteLiteral(p.reverseSlot ?? p.reverse)}`,
        why: `repeat until true: ${old} has every write made on ${neu}`,
      },
      { node: old, sql: `ALTER SUBSCRIPTION ${quoteIdent(p.reverse)} DISABLE`, why: 'stop the way back' },
      {
        node: old,
        sql: `DROP SUBSCRIPTION ${quoteIdent(p.reverse)}`,
        why: `and remove it with its slot on ${neu}, which would retain WAL there for ever: everything it carried is on ${old} (the check above)`,
      },
      {
        node: neu,
        sql: `DROP PUBLICATION ${quoteIdent(p.reverse)}`,
        why: `the way back's publication, read by nothing now`,
      },
    );
  } else {
    // no way back carried them: with both nodes fenced, the rows only the new primary holds are counted
    out.push({
      node: null,
      sql: null,
      command: adviceText('verify', sub),
      why: `count the rows written on ${neu} after the release: those it finds only on ${neu} stay there, as nothing carries them back; copy them to ${old} by hand (${adviceText('verifyRepair', sub)} would delete them)`,
    });
    if (opts.keepSlot)
      out.push({
        node: neu,
        sql: `ALTER SUBSCRIPTION ${quoteIdent(sub)} ENABLE`,
        why: `resume ${old} → ${neu} from the kept slot (the rows counted above are not carried back)`,
      });
  }
  out.push(
    {
      node: null,
      sql: null,
      command: p.reverse
        ? `steep sequences sync ${p.reverse} --headroom ${opts.sequenceHeadroom}`
        : `steep sequences sync ${sub} --reverse --headroom ${opts.sequenceHeadroom}`,
      why: `set ${old}'s sequences past what ${neu} handed out, before the application writes on ${old} again`,
    },
    ...p.unfence.map((u) => ({
      node: u.node,
      sql: u.sql,
      why: /^DROP /.test(u.sql)
        ? `remove the data fence on ${old}`
        : `make the role writable on ${old} again`,
    })),
    { node: null, sql: null, why: `point the application back at ${old}` },
  );
  if (!p.reverse && !opts.keepSlot)
    out.push({
      node: null,
      sql: null,
      why: `the slot ${p.slot} was dropped: writes made on ${neu} after the release stay there unless copied back by hand`,
    });
  return out;
}
