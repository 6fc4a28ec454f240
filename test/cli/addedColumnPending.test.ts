import { describe, expect, it } from 'vitest';
import { type TestNode, useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * A column added on the publisher with a default PostgreSQL evaluates once (`DEFAULT now()`),
 * while the subscriber still has changes from before that ADD COLUMN to apply. Schema sync adds
 * the column with the value the publisher's old rows hold, then gives it the publisher's
 * default: the inserts from before the ADD that the subscriber applies after that get the
 * subscriber's own `now()`, where the publisher's rows hold the kept value. The default must
 * wait until those changes are applied. The subscriber is held behind by a row lock its apply
 * worker waits on (another table's change, committed first), and let go once the column exists
 * on it. Under the app's id-logging writer on the publisher throughout; ends with no
 * acknowledged id lost and the tables equal, column by column.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'pending_app', password: 'pending-app-secret-1' };
const { steep, setUp, startWriter, untilState } = itemsPair(cluster, {
  topology: 'added-pending',
  app: APP,
  items: () => ['      - public.items', '      - public.blocker'],
});

/** Until `sql` returns a row on `node` (`what`: the wait's name). */
const untilRow = (node: TestNode, sql: string, what: string) =>
  eventually(async () => (await node.query(sql)).length > 0, HANG_MS, what);

/** The default of `public.items`' column `column` on `node`, as PostgreSQL prints it. */
async function defaultOf(node: TestNode, column: string): Promise<string | undefined> {
  const [row] = await node.query<{ d: string }>(
    `SELECT pg_get_expr(d.adbin, d.adrelid) AS d FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
      WHERE d.adrelid = 'public.items'::regclass AND a.attname = $1`,
    [column],
  );
  return row?.d;
}

describe('a column schema sync adds while changes from before it are still to apply', () => {
  it("gives those rows the publisher's kept value, setting the default once they are applied", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west])
      await n.query('CREATE TABLE public.blocker (id int PRIMARY KEY, n int NOT NULL)');
    await east.query('INSERT INTO public.blocker VALUES (1, 0)');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL DEFAULT md5(random()::text)',
      'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 200) g',
    );
    const writer = startWriter();
    const writers = [writer];
    const hold = await west.client();
    let held = false;
    try {
      await writer.more('writes on east');
      // west's apply worker waits on this row lock: every change after it stays to apply
      await hold.query('BEGIN');
      held = true;
      await hold.query('SELECT * FROM public.blocker WHERE id = 1 FOR UPDATE');
      await east.query('UPDATE public.blocker SET n = n + 1 WHERE id = 1');
      await untilRow(
        west,
        "SELECT 1 FROM pg_stat_activity WHERE backend_type LIKE 'logical replication%worker' AND wait_event_type = 'Lock'",
        "west's apply worker waiting on the row lock",
      );
      await writer.more('inserts on east from before the ADD COLUMN, not yet applied on west');
      await east.query('ALTER TABLE public.items ADD COLUMN created timestamptz NOT NULL DEFAULT now()');
      await writer.more('inserts after the ADD COLUMN');

      const planned = await steep(['plan']);
      expect(planned.stdout).toContain(
        'the default of created is set once items_sub has applied what east inserted before adding it',
      );
      const applying = steep(['apply', '--auto-approve']);
      // once west has the column, its worker goes on
      await untilRow(
        west,
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'public.items'::regclass AND attname = 'created'",
        'column created added on west',
      );
      await hold.query('COMMIT');
      held = false;
      const applied = await applying;
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      expect(await defaultOf(west, 'created')).toBe('now()');
      await writer.more('writes after the sync');
      await writer.stop();

      // disabled by hand once every insert from before the next ADD COLUMN was applied: its
      // slot, read, holds none of them; the default is set, and the plan's ENABLE runs
      await waitCaughtUp(east, ITEMS_SUB);
      await west.query(`ALTER SUBSCRIPTION ${ITEMS_SUB} DISABLE`);
      await east.query('ALTER TABLE public.items ADD COLUMN seen timestamptz NOT NULL DEFAULT now()');
      const second = startWriter();
      writers.push(second);
      await second.more('inserts after the second ADD COLUMN, west disabled');
      const read = await steep(['apply', '--auto-approve']);
      expect(read.code, `${read.stdout}\n${read.stderr}`).toBe(0);
      expect(await defaultOf(west, 'seen')).toBe('now()');
      await second.more('writes after the second sync');

      // disabled by hand while inserts go on, then a column added: inserts from before it are
      // still to apply, and the step says so and how to go on (the column added, its default not)
      await west.query(`ALTER SUBSCRIPTION ${ITEMS_SUB} DISABLE`);
      await second.more('inserts while west is disabled, before the third ADD COLUMN');
      await east.query('ALTER TABLE public.items ADD COLUMN touched timestamptz NOT NULL DEFAULT now()');
      await second.more('inserts after the third ADD COLUMN');
      const refused = await steep(['apply', '--auto-approve']);
      const said = refused.stdout + refused.stderr;
      expect(refused.code, said).toBe(1);
      expect(said).toContain(
        'subscription items_sub is disabled and changes of public.items from before the ADD COLUMN are still to apply',
      );
      const wayOn = /run (ALTER SUBSCRIPTION \S+ ENABLE) on west .*then run steep apply again/.exec(said);
      expect(wayOn, said).not.toBeNull();
      expect(await defaultOf(west, 'touched')).not.toBe('now()');
      // the way on, followed literally
      await west.query(wayOn![1]!);
      const enabled = await steep(['apply', '--auto-approve']);
      expect(enabled.code, `${enabled.stdout}\n${enabled.stderr}`).toBe(0);
      expect(await defaultOf(west, 'touched')).toBe('now()');

      await second.more('writes after the third sync');
      await second.stop();
      await waitCaughtUp(east, ITEMS_SUB);
      const acked = writers.flatMap((w) => w.acked());
      const lost = await idsMissing(west, 'public.items', acked);
      console.log(`pending inserts: acknowledged ${acked.length}, missing on west ${lost}`);
      expect(lost).toBe(0);
      const rows = 'SELECT id, v, created, seen, touched FROM public.items';
      expect(await queryDigest(west, rows)).toEqual(await queryDigest(east, rows));
      await untilState('synchronized');
      const plan = await steep(['plan', '--detailed-exitcode']);
      expect(plan.code, plan.stdout).toBe(0);
      const verify = await steep(['verify', ITEMS_SUB]);
      expect(verify.code, verify.stdout).toBe(0);
    } finally {
      if (held) await hold.query('ROLLBACK').catch(() => {});
      await hold.end();
      for (const w of writers) await w.stop();
    }
  }, 600_000);
});
