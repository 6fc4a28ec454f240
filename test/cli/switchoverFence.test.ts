import { describe, expect, it } from 'vitest';
import type { SwitchoverReport } from '../../src/model/switchover.js';
import { type IdWriter, roleClient, startIdStatementWriter, startIdWriter } from '../support/appWriter.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Issue 63, the fence against every writer (east and north, a third node, on the first of
 * STEEP_TEST_PG, 18 by default; west on 18; `STEEP_TEST_PG=16` makes it the 16 → 18 upgrade):
 * besides the application role, a role with a column-level grant, a role that may only EXECUTE
 * a SECURITY DEFINER function owned by the application role, a prepared transaction of the
 * application, and a hand-made subscription from north into the same table of east. Each
 * writer logs the ids whose COMMIT returned; after the switchover every one of them must be on
 * the node steep calls primary (west once released, east when the switchover refused).
 */
const oldCluster = useCluster({
  nodes: ['east', 'north'],
  settings: { max_prepared_transactions: '4' },
});
const newCluster = useCluster({
  nodes: ['west'],
  version: 18,
  settings: { max_prepared_transactions: '4' },
});
const cluster = () => ({
  node: (name: 'east' | 'west' | 'north') =>
    name === 'west' ? newCluster().node('west') : oldCluster().node(name),
});
const steep = steepWith({
  env: () => passwordEnv([...oldCluster().nodes, ...newCluster().nodes]),
  timeoutMs: 180_000,
});

const PASSWORD = 'fence-writer-secret-7';
const role = (p: string, kind: 'app' | 'col' | 'fn') => ({ user: `${p}_${kind}`, password: PASSWORD });

/**
 * Table `<p>_ledger` on east and west, written by `<p>_app` (its grants), `<p>_col` (a
 * column-level grant only) and `<p>_fn` (EXECUTE on `<p>_add`, SECURITY DEFINER, owned by
 * `<p>_app`); published by east to west's subscription `west_<p>`, applied and caught up.
 */
async function setUp(east: TestNode, west: TestNode, p: string, lockTimeout = '5s'): Promise<string> {
  for (const n of [east, west]) {
    for (const k of ['app', 'col', 'fn'] as const)
      await n.query(`CREATE ROLE ${p}_${k} LOGIN PASSWORD '${PASSWORD}'`);
    await n.query(`CREATE TABLE public.${p}_ledger (id bigint PRIMARY KEY, v text NOT NULL)`);
    await n.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON public.${p}_ledger TO ${p}_app`);
    await n.query(`GRANT SELECT (id), INSERT (id, v) ON public.${p}_ledger TO ${p}_col`);
    await n.query(
      `CREATE FUNCTION public.${p}_add(i bigint) RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
         AS $$ INSERT INTO public.${p}_ledger (id, v) VALUES (i, 'by the definer function') RETURNING id $$`,
    );
    await n.query(`ALTER FUNCTION public.${p}_add(bigint) OWNER TO ${p}_app`);
    await n.query(`REVOKE EXECUTE ON FUNCTION public.${p}_add(bigint) FROM PUBLIC`);
    await n.query(`GRANT EXECUTE ON FUNCTION public.${p}_add(bigint) TO ${p}_fn`);
  }
  await east.query(`INSERT INTO public.${p}_ledger SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
  const path = writeConfig(
    pairYaml({
      topology: `fence-${p}`,
      publisher: east,
      subscriber: west,
      p,
      tables: [`public.${p}_ledger`],
      settings: [`lockTimeout: ${lockTimeout}`],
    }),
  );
  const applied = await steep(['apply', '--auto-approve'], path);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  await waitCaughtUp(east, `west_${p}`);
  return path;
}

/** An application calling the definer function on the node `target()` names, logging each id it returned there. */
function startFunctionWriter(
  nodes: Record<string, TestNode>,
  p: string,
  from: number,
  target: () => string,
): IdWriter {
  let next = from;
  return startIdStatementWriter(nodes, role(p, 'fn'), target, async (c) => {
    const { rows } = await c.query<{ id: string }>(`SELECT public.${p}_add($1)::text AS id`, [next++]);
    return Number(rows[0]!.id);
  });
}

/**
 * One id writer per kind on the node `target()` names (east unless given): the application
 * role, the column grant, the definer function.
 */
function startWriters(
  nodes: Record<string, TestNode>,
  p: string,
  target: () => string = () => 'east',
): Record<string, IdWriter> {
  const ids = (from: number) => {
    let n = from;
    return () => n++;
  };
  return {
    application: startIdWriter(nodes, role(p, 'app'), `public.${p}_ledger`, target, ids(1_000_000)),
    'column grant': startIdWriter(nodes, role(p, 'col'), `public.${p}_ledger`, target, ids(2_000_000)),
    'definer function': startFunctionWriter(nodes, p, 3_000_000, target),
  };
}

async function idsOn(node: TestNode, p: string): Promise<Set<number>> {
  const rows = await node.query<{ id: string }>(`SELECT id::text AS id FROM public.${p}_ledger`);
  return new Set(rows.map((r) => Number(r.id)));
}

/** Per writer: acknowledged ids and those missing on `primary`, as `kind acknowledged/lost`. */
async function lostOn(primary: TestNode, p: string, acked: Record<string, number[]>) {
  const there = await idsOn(primary, p);
  return Object.fromEntries(
    Object.entries(acked).map(([kind, ids]) => [
      kind,
      { acknowledged: ids.length, lost: ids.filter((id) => !there.has(id)).length },
    ]),
  );
}

/** Each writer has committed at least `n` more rows on `node` since it was called. */
async function writersGoOn(writers: Record<string, IdWriter>, n: number, node = 'east'): Promise<void> {
  const count = (w: IdWriter) => w.acknowledged().get(node)?.length ?? 0;
  const marks = Object.fromEntries(Object.entries(writers).map(([k, w]) => [k, count(w)]));
  await eventually(
    async () => Object.entries(writers).every(([k, w]) => count(w) >= marks[k]! + n),
    HANG_MS,
    'every writer to commit',
  );
}

async function fenceTriggers(east: TestNode, p: string): Promise<string[]> {
  const rows = await east.query<{ t: string }>(
    `SELECT tgname AS t FROM pg_trigger WHERE tgrelid = 'public.${p}_ledger'::regclass AND NOT tgisinternal`,
  );
  return rows.map((r) => r.t);
}

/** The switchover with every writer kind running on east; acknowledged / lost per kind on west. */
async function switchOverWhileWriting(east: TestNode, west: TestNode, p: string, extra: string[]) {
  const path = await setUp(east, west, p);
  const writers = startWriters({ east }, p);
  let done!: Awaited<ReturnType<typeof steep>>;
  try {
    await writersGoOn(writers, 20);
    done = await steep(['switchover', `west_${p}`, '--grace', '1s', '--json', ...extra], path);
    // the application goes on trying on east after the release: what commits there is lost (a
    // fixed wait: that nothing commits has no condition to wait for)
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    for (const w of Object.values(writers)) await w.stop();
  }
  const acked = Object.fromEntries(
    Object.entries(writers).map(([k, w]) => [k, w.acknowledged().get('east') ?? []]),
  );
  const outcome = await lostOn(west, p, acked);
  console.log(`switchover ${extra.join(' ') || '(no flag)'}: exit ${done.code}, ${JSON.stringify(outcome)}`);
  return { done, writers, outcome, path };
}

describe(`the switchover fence holds against every writer (${defaultVersion()} → 18)`, () => {
  it('without --reverse: the column grant and the definer function commit nothing on east after the fence; 0 acknowledged rows lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const { done, writers, outcome } = await switchOverWhileWriting(east, west, 'lf', []);
    for (const [kind, o] of Object.entries(outcome))
      expect(o.lost, `${kind}: ${JSON.stringify(outcome)}`).toBe(0);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    expect(report.outcome).toBe('released');
    expect(report.unsent).toEqual({ changes: 0, transactions: 0 });
    // the fence's own error stops the writers the role fence does not see (SQLSTATE 25006)
    expect(writers['column grant']!.lastError()).toBe('25006');
    expect(writers['definer function']!.lastError()).toBe('25006');
    expect(await fenceTriggers(east, 'lf')).toEqual(['steep_fence_west_lf']);
    // as a superuser too: the fence is the table's, not a role's
    await expect(
      east.query("INSERT INTO public.lf_ledger (id, v) VALUES (9000001, 'superuser')"),
    ).rejects.toThrow(/public\.lf_ledger is fenced: switchover of west_lf moved its writes to west/);
    expect(await digests(west, ['lf_ledger'])).toEqual(await digests(east, ['lf_ledger']));
  }, 240_000);

  it('with --reverse: 0 acknowledged rows lost, and the way back still applies on east through the fence', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const { done, outcome } = await switchOverWhileWriting(east, west, 'lr', ['--reverse']);
    for (const [kind, o] of Object.entries(outcome))
      expect(o.lost, `${kind}: ${JSON.stringify(outcome)}`).toBe(0);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    // west is the primary: its writes come back to east, past the fence
    for (let i = 0; i < 20; i++)
      await west.query(`INSERT INTO public.lr_ledger (id, v) VALUES (${5_000_000 + i}, 'west')`);
    await waitCaughtUp(west, 'steep_reverse_west_lr_a172cedc');
    expect(await digests(east, ['lr_ledger'])).toEqual(await digests(west, ['lr_ledger']));
  }, 240_000);

  it('the rollback printed after --reverse, followed literally with every writer kind on west: 0 acknowledged rows lost on east, west fenced for all of them', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const nodes: Record<string, TestNode> = { east, west };
    const p = 'lb';
    const path = await setUp(east, west, p);
    const done = await steep(['switchover', `west_${p}`, '--reverse', '--grace', '1s', '--json'], path);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    let primary = 'west';
    const writers = startWriters(nodes, p, () => primary);
    // what no fence stops on west: a transaction the application prepared there, and a
    // subscription made by hand from north into the same table
    const north = cluster().node('north');
    await north.query(`CREATE TABLE public.${p}_ledger (id bigint PRIMARY KEY, v text NOT NULL)`);
    await north.query(`CREATE PUBLICATION north_${p} FOR TABLE public.${p}_ledger`);
    await west.query(
      `CREATE SUBSCRIPTION north_${p} CONNECTION 'host=127.0.0.1 port=${north.port} dbname=app user=postgres password=${north.password}'
         PUBLICATION north_${p} WITH (copy_data = false)`,
    );
    const pending = await roleClient(west, role(p, 'app'));
    await pending.query('BEGIN');
    await pending.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (6100001, 'prepared on west')`);
    await pending.query("PREPARE TRANSACTION 'lb_pending'");
    await pending.end();
    const finished: string[] = [];
    try {
      await writersGoOn(writers, 20, 'west');
      for (const r of report.rollback) {
        if (r.command) {
          const ran = await steep(r.command.replace(/^steep /, '').split(' '), path);
          expect(ran.code, `${r.command}\n${ran.stdout}\n${ran.stderr}`).toBe(0);
        } else if (r.sql && r.node && /^repeat until it returns no row/.test(r.why)) {
          // as it says: the application finishes each prepared transaction, the DBA disables each subscription
          const at = nodes[r.node]!;
          for (let rows = await at.query(r.sql); rows.length > 0; rows = await at.query(r.sql))
            for (const row of rows as Array<{ gid?: string; name?: string }>) {
              const sql = row.gid ? `COMMIT PREPARED '${row.gid}'` : `ALTER SUBSCRIPTION ${row.name} DISABLE`;
              await at.query(sql);
              finished.push(sql);
            }
        } else if (r.sql && r.node && /^repeat until true/.test(r.why)) {
          const sql = r.sql;
          const at = nodes[r.node]!;
          await eventually(
            async () => (await at.query<{ drained: boolean }>(sql))[0]?.drained === true,
            HANG_MS,
            r.why,
          );
        } else if (r.sql && r.node) await nodes[r.node]!.query(r.sql);
        else if (/point the application back/.test(r.why)) primary = 'east';
      }
      expect(primary).toBe('east');
      await writersGoOn(writers, 20, 'east');
    } finally {
      for (const w of Object.values(writers)) await w.stop();
    }
    const acked = Object.fromEntries(
      Object.entries(writers).map(([k, w]) => [
        k,
        [...(w.acknowledged().get('west') ?? []), ...(w.acknowledged().get('east') ?? [])],
      ]),
    );
    expect(finished).toEqual(["COMMIT PREPARED 'lb_pending'", `ALTER SUBSCRIPTION north_${p} DISABLE`]);
    const outcome = await lostOn(east, p, { ...acked, prepared: [6100001] });
    console.log(`rollback after --reverse: ${JSON.stringify(outcome)}`);
    for (const [kind, o] of Object.entries(outcome))
      expect(o.lost, `${kind}: ${JSON.stringify(outcome)}`).toBe(0);
    // west is the one fenced now, for a superuser's session too
    await expect(
      west.query("INSERT INTO public.lb_ledger (id, v) VALUES (9000002, 'superuser')"),
    ).rejects.toThrow(/public\.lb_ledger is fenced/);
  }, 240_000);

  it('refuses before it fences anything: a prepared transaction, an inbound subscription, a new primary where the application cannot log in; --wait-prepared waits', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const north = cluster().node('north');
    const p = 'lp';
    const path = await setUp(east, west, p);
    // north writes into east's lp_ledger through a subscription made by hand
    await north.query(`CREATE TABLE public.${p}_ledger (id bigint PRIMARY KEY, v text NOT NULL)`);
    await north.query(`CREATE PUBLICATION north_pub FOR TABLE public.${p}_ledger`);
    await east.query(
      `CREATE SUBSCRIPTION north_feed CONNECTION 'host=127.0.0.1 port=${north.port} dbname=app user=postgres password=${north.password}'
         PUBLICATION north_pub WITH (copy_data = false)`,
    );
    const northAcked: number[] = [];
    for (let id = 4_000_000; id < 4_000_020; id++) {
      await north.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (${id}, 'north')`);
      northAcked.push(id);
    }
    // and into lp_inbox, which east does not publish: a trigger its apply fires (ENABLE ALWAYS)
    // writes each row into lp_ledger, where no fence stops it either
    await north.query(`CREATE TABLE public.${p}_inbox (id bigint PRIMARY KEY, v text NOT NULL)`);
    await north.query(`CREATE PUBLICATION north_inbox_pub FOR TABLE public.${p}_inbox`);
    await east.query(`CREATE TABLE public.${p}_inbox (id bigint PRIMARY KEY, v text NOT NULL)`);
    await east.query(
      `CREATE FUNCTION public.${p}_to_ledger() RETURNS trigger LANGUAGE plpgsql
         AS $$ BEGIN INSERT INTO public.${p}_ledger (id, v) VALUES (NEW.id, NEW.v); RETURN NEW; END $$`,
    );
    await east.query(
      `CREATE TRIGGER ${p}_to_ledger AFTER INSERT ON public.${p}_inbox FOR EACH ROW EXECUTE FUNCTION public.${p}_to_ledger()`,
    );
    await east.query(`ALTER TABLE public.${p}_inbox ENABLE ALWAYS TRIGGER ${p}_to_ledger`);
    await east.query(
      `CREATE SUBSCRIPTION north_inbox CONNECTION 'host=127.0.0.1 port=${north.port} dbname=app user=postgres password=${north.password}'
         PUBLICATION north_inbox_pub WITH (copy_data = false)`,
    );
    const inboxAcked: number[] = [];
    const toInbox = async (from: number) => {
      for (let id = from; id < from + 20; id++) {
        await north.query(`INSERT INTO public.${p}_inbox (id, v) VALUES (${id}, 'through the trigger')`);
        inboxAcked.push(id);
      }
    };
    await toInbox(5_000_000);
    // an application transaction prepared before the switchover, committed after it
    const app = await roleClient(east, role(p, 'app'));
    await app.query('BEGIN');
    await app.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (6000001, 'prepared')`);
    await app.query("PREPARE TRANSACTION 'lp_pending'");
    await app.end();
    // an earlier rollback left the application role without login, and read-only, on west
    await west.query(`ALTER ROLE ${p}_app NOLOGIN`);
    await west.query(`ALTER ROLE ${p}_app IN DATABASE app SET default_transaction_read_only = on`);

    const refused = await steep(['switchover', `west_${p}`, '--grace', '1s'], path);
    await east.query("COMMIT PREPARED 'lp_pending'");
    for (let id = 4_000_020; id < 4_000_040; id++) {
      await north.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (${id}, 'north')`);
      northAcked.push(id);
    }
    await toInbox(5_000_020);
    await waitCaughtUp(north, 'north_feed');
    await waitCaughtUp(north, 'north_inbox');
    const primary = refused.code === 0 ? west : east;
    const before = await lostOn(primary, p, {
      prepared: [6000001],
      'third-node subscription': northAcked,
      'its trigger': inboxAcked,
    });
    console.log(`refusals: exit ${refused.code}, ${JSON.stringify(before)}`);
    expect(before).toEqual({
      prepared: { acknowledged: 1, lost: 0 },
      'third-node subscription': { acknowledged: 40, lost: 0 },
      'its trigger': { acknowledged: 40, lost: 0 },
    });
    expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stderr).toMatch(
      /prepared transaction 'lp_pending' of role lp_app in database app on east \(prepared at [^)]+\) is open/,
    );
    expect(refused.stderr).toContain('subscription north_feed on east writes into public.lp_ledger');
    expect(refused.stderr).toContain(
      'subscription north_inbox on east fires public.lp_inbox: lp_to_ledger as it applies (ENABLE ALWAYS or REPLICA), which may write into the tables the switchover moves to west',
    );
    expect(refused.stderr).toContain(
      'role lp_app cannot log in (NOLOGIN) and starts read-only in database app (default_transaction_read_only = on) on west',
    );
    expect(await fenceTriggers(east, p)).toEqual([]);
    const [login] = await east.query<{ l: boolean }>(
      `SELECT rolcanlogin AS l FROM pg_roles WHERE rolname = '${p}_app'`,
    );
    expect(login!.l).toBe(true);

    // as the refusals say: the feed disabled, the login given back; a new prepared transaction
    // is waited for (--wait-prepared) and, committed during the wait, reaches west
    await east.query('ALTER SUBSCRIPTION north_feed DISABLE');
    await east.query('ALTER SUBSCRIPTION north_inbox DISABLE');
    const lift = /as an earlier rollback leaves it: .*; run (.+;) on west, then run again/.exec(
      refused.stderr,
    );
    await west.query(lift![1]!);
    await waitCaughtUp(east, `west_${p}`);
    const again = await roleClient(east, role(p, 'app'));
    await again.query('BEGIN');
    await again.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (6000002, 'prepared, waited for')`);
    await again.query("PREPARE TRANSACTION 'lp_waited'");
    await again.end();
    // in a process of its own: its output is read while it waits
    const running = startSteep(
      ['switchover', `west_${p}`, '--grace', '1s', '--wait-prepared', '60s', '--json', '-c', path],
      passwordEnv([...oldCluster().nodes, ...newCluster().nodes]),
    );
    await eventually(
      async () => running.output.stderr.includes('(lp_waited): waiting up to --wait-prepared 60s'),
      HANG_MS,
      'steep to wait for lp_waited',
    );
    await east.query("COMMIT PREPARED 'lp_waited'");
    const done = await running.exited;
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect((await west.query('SELECT 1 FROM public.lp_ledger WHERE id = 6000002')).length).toBe(1);
    expect(await lostOn(west, p, { 'its trigger': inboxAcked })).toEqual({
      'its trigger': { acknowledged: 40, lost: 0 },
    });
    expect(await digests(west, ['lp_ledger'])).toEqual(await digests(east, ['lp_ledger']));
    // the application writes on west, the new primary: nothing of the rollback's fence is left
    const after = await roleClient(west, role(p, 'app'));
    await after.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (6000003, 'on the new primary')`);
    await after.end();
  }, 240_000);

  it("refuses before it fences anything when a node has no room for what it creates: east without a free slot for the release's copy, west without one for the way back", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const p = 'lc';
    const path = await setUp(east, west, p);
    // every free slot taken, by physical slots nobody reads
    const fill = async (n: TestNode, tag: string) => {
      const [free] = await n.query<{ n: number }>(
        `SELECT (current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots))::int AS n`,
      );
      for (let i = 0; i < free!.n; i++)
        await n.query(`SELECT pg_create_physical_replication_slot('${tag}_${i}')`);
      return async () =>
        n.query(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '${tag}\\_%'`,
        );
    };
    const untouched = async () => {
      expect(await fenceTriggers(east, p)).toEqual([]);
      const [sub] = await west.query<{ e: boolean }>(
        `SELECT subenabled AS e FROM pg_subscription WHERE subname = 'west_${p}'`,
      );
      expect(sub!.e).toBe(true);
    };
    const freeEast = await fill(east, 'lc_east');
    const full = await steep(['switchover', `west_${p}`, '--grace', '1s'], path);
    await freeEast();
    expect(full.code, `${full.stdout}\n${full.stderr}`).toBe(1);
    expect(full.stderr).toContain(
      "east has no free replication slot for the release's copy of the forward slot: raise max_replication_slots on east (a restart), or pass --keep-slot",
    );
    await untouched();
    const freeWest = await fill(west, 'lc_west');
    const back = await steep(['switchover', `west_${p}`, '--reverse', '--grace', '1s'], path);
    await freeWest();
    expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(1);
    expect(back.stderr).toContain(
      'west has no free replication slot for the way back: raise max_replication_slots on west (a restart), or switch over without --reverse',
    );
    await untouched();
  }, 240_000);

  it('a release that finds changes says NOT done, names what wrote them, and its advice, followed literally with --reverse, delivers every one without the way back looping', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const p = 'lk';
    const sub = `west_${p}`;
    const path = await setUp(east, west, p, '60s');
    // west's apply of a row marked 'after' waits for an advisory lock the test holds (a trigger
    // the apply worker fires; an advisory lock gives the waiting worker no transaction id, so
    // the way back's slot is made on west without waiting for it)
    await west.query(
      `CREATE FUNCTION public.${p}_hold() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.v = 'after' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$`,
    );
    await west.query(
      `CREATE TRIGGER ${p}_hold BEFORE INSERT ON public.${p}_ledger FOR EACH ROW EXECUTE FUNCTION public.${p}_hold()`,
    );
    await west.query(`ALTER TABLE public.${p}_ledger ENABLE ALWAYS TRIGGER ${p}_hold`);
    const holder = await west.client();
    await holder.query('SELECT pg_advisory_lock(4242)');
    // and a transaction with an id on west holds the switchover after its drain: the way back's
    // slot, made next, waits for it, so the rows the writer marks 'after' (once the test has seen
    // the drain) are written before the release, however slowly the test polls
    const pause = await west.client();
    await pause.query('BEGIN');
    await pause.query('SELECT pg_current_xact_id()');
    // a superuser who turns triggers off for its session: the one writer the data fence lets
    // through; it writes throughout (rows marked 'after' once the drain is proven), every id
    // whose COMMIT returned logged
    const su = await east.client();
    await su.query('SET session_replication_role = replica');
    const acknowledged: number[] = [];
    let writing = true;
    let mark = 'before';
    const writes = (async () => {
      for (let id = 7_000_000; writing; id++) {
        await su.query(`INSERT INTO public.${p}_ledger (id, v) VALUES ($1, $2)`, [id, mark]);
        acknowledged.push(id);
      }
    })();
    let done!: Awaited<ReturnType<typeof steep>>;
    try {
      await eventually(async () => acknowledged.length > 200, HANG_MS, 'the writer to write');
      const running = steep(
        ['switchover', sub, '--reverse', '--verify', 'none', '--grace', '1s', '--json'],
        path,
      );
      const drained = async () =>
        (
          await west.query(
            `SELECT 1 FROM steep.apply_log WHERE address = 'subscription.${sub}' AND action = 'switchover.drain' AND status = 'completed'`,
          )
        ).length > 0;
      const early = await Promise.race([running, eventually(drained, HANG_MS, 'the drain')]);
      if (early) throw new Error(`ended before the drain:\n${early.stdout}\n${early.stderr}`);
      mark = 'after';
      await pause.query('COMMIT');
      await eventually(
        async () =>
          (await west.query(`SELECT 1 FROM pg_subscription WHERE subname = '${sub}' AND NOT subenabled`))
            .length === 1,
        HANG_MS,
        'the DISABLE',
      );
      const disabledAt = acknowledged.length;
      await eventually(
        async () => acknowledged.length > disabledAt + 10,
        HANG_MS,
        'commits after the DISABLE',
      );
      // the apply worker, free again, sees the DISABLE and stops
      await holder.query('SELECT pg_advisory_unlock(4242)');
      done = await running;
    } finally {
      writing = false;
      await writes;
      await su.end();
      await holder.end().catch(() => {});
      await pause.end().catch(() => {});
    }
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(1);
    const report = JSON.parse(done.stdout) as SwitchoverReport;
    expect(report.outcome).toBe('released');
    expect(report.slotKept).toBe(true);
    expect(done.stderr).toContain(`to public.${p}_ledger by local sessions (no replication origin;`);
    expect(done.stdout + done.stderr).not.toContain('done: writes move');
    // west is the primary now: its writes reach east through the way back, with that origin
    for (let i = 0; i < 10; i++)
      await west.query(`INSERT INTO public.${p}_ledger (id, v) VALUES (${8_000_000 + i}, 'west')`);
    await waitCaughtUp(west, `steep_reverse_${sub}_a172cedc`);

    // the advice, followed literally: each ALTER SUBSCRIPTION it prints, in order, on west,
    // waiting where it says until the slot is caught up
    const advice = /the slot is kept: stop that writer, then (.*)$/m.exec(done.stderr)?.[1] ?? '';
    const statements = [...advice.matchAll(/ALTER SUBSCRIPTION "[^"]+" [A-Z]+(?: \(origin = \w+\))?/g)].map(
      (m) => m[0],
    );
    expect(statements, advice).toEqual([
      `ALTER SUBSCRIPTION "${sub}" SET (origin = none)`,
      `ALTER SUBSCRIPTION "${sub}" ENABLE`,
      `ALTER SUBSCRIPTION "${sub}" DISABLE`,
      `ALTER SUBSCRIPTION "${sub}" SET (origin = any)`,
    ]);
    for (const sql of statements) {
      await west.query(sql);
      if (sql.endsWith('ENABLE')) await waitCaughtUp(east, sub);
    }
    const there = await idsOn(west, p);
    const lost = acknowledged.filter((id) => !there.has(id));
    console.log(`release advice: acknowledged ${acknowledged.length}, lost ${lost.length}`);
    expect(lost).toEqual([]);
    // the way back's rows did not come back to west as conflicts
    const [stats] = await west.query<{ e: string }>(
      `SELECT apply_error_count::text AS e FROM pg_stat_subscription_stats WHERE subname = '${sub}'`,
    );
    expect(stats!.e).toBe('0');
    expect(await digests(west, [`${p}_ledger`])).toEqual(await digests(east, [`${p}_ledger`]));
  }, 240_000);
});
