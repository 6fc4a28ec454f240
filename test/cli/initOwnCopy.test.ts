import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, type Exited, startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fastCopy,
  fillTables,
  indexesOf,
  slowCopy,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Snapshot init with steep's own copy engine (`init: { method: snapshot, parallel: N }`), on
 * real nodes with a writer on the publisher throughout: the plan says which copy it takes and
 * why; a table above `splitAbove` is copied in key ranges on several sessions, small ones
 * whole, a row filter and a column list exactly as published; the subscription starts on the
 * slot's consistent point and reaches synchronized with both sides equal; an apply killed
 * mid-copy resumes after the chunks it finished, at the same snapshot; the sequences are set.
 * A chunk whose session is terminated is retried, up to 3 attempts (then apply fails saying so,
 * and the rerun copies it); a Ctrl-C'd copy exits 130, stays `copying`,
 * and the rerun resumes after its chunks; a Ctrl-C while its slot waits for a transaction open on
 * the publisher cancels the wait (exit 130, no slot), and the rerun copies. A big table's indexes are dropped before its copy and
 * built after it, exactly as they were (all but one a foreign key references); killed between
 * the two, the resume or `init cancel` builds them.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES: TableDef[] = [
  { name: 'own_big', rows: 120_000 },
  { name: 'own_small', rows: 3_000 },
  { name: 'own_tiny', rows: 50 },
];
const FILTERED: TableDef = { name: 'own_filtered', rows: 4_000 };

function env() {
  return passwordEnv(cluster().nodes);
}

const steep = steepWith({ env, timeoutMs: 180_000 });
/**
 * A copy that did not finish runs again: its init step may empty what it copied and drop its
 * slot (when its snapshot is no longer held), gated hazards the rerun allows by name
 */
const RERUN = ['--allow-hazard', 'truncates-data', '--allow-hazard', 'drops-slot'];

function config(topology: string, sub: string, tables: string[], init: string, filtered = false): string {
  const [east, west] = cluster().nodes;
  const withFilter = filtered && east!.serverVersionNum >= 150000;
  return writeConfig(
    [
      'version: 1',
      `topology: ${topology}`,
      nodesYaml([east!, west!]),
      'publications:',
      `  ${sub}_pub:`,
      '    node: east',
      '    tables:',
      ...tables.map((t) => `      - public.${t}`),
      ...(filtered
        ? withFilter
          ? // on the key (fillTables: n = id % 1000): a filter on n, outside the replica identity, breaks updates
            [
              `      - name: public.${FILTERED.name}`,
              '        columns: [id, v]',
              '        where: "id % 1000 < 300"',
            ]
          : [`      - public.${FILTERED.name}`]
        : []),
      'subscriptions:',
      `  ${sub}:`,
      '    node: west',
      '    from: east',
      `    publications: [${sub}_pub]`,
      `    init: ${init}`,
      '',
    ].join('\n'),
  );
}

async function recordedState(sub: string): Promise<string | undefined> {
  const rows = await cluster()
    .node('west')
    .query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = $1`,
      [sub],
    )
    .catch(() => []);
  return rows[0]?.state;
}

function parseEvents(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * `steep apply` sent `signal` once `chunks` chunks of the subscription's copy are done; true when
 * it landed: killed by SIGKILL, or exited 130 after SIGINT (Ctrl-C).
 */
function applyKilledAfter(
  path: string,
  sub: string,
  chunks: number,
  signal: 'SIGKILL' | 'SIGINT' = 'SIGKILL',
): Promise<boolean> {
  const west = cluster().node('west');
  const run = startSteep(['apply', '--auto-approve', '-c', path], env());
  return new Promise<boolean>((resolve) => {
    let done = false;
    const poll = setInterval(async () => {
      const rows = await west
        .query<{ n: string }>(
          `SELECT count(*)::text AS n FROM steep.copy_chunks WHERE subscription = $1 AND completed_at IS NOT NULL`,
          [sub],
        )
        .catch(() => [{ n: '0' }]);
      if (!done && Number(rows[0]!.n) >= chunks) {
        done = true;
        clearInterval(poll);
        run.child.kill(signal);
      }
    }, 100);
    void run.exited.then(({ code, signal: by }) => {
      clearInterval(poll);
      resolve(signal === 'SIGKILL' ? by === 'SIGKILL' : done && code === 130);
    });
  });
}

/** The indexes steep's copy of `sub` has deferred and not built yet. */
async function deferredIndexes(sub: string): Promise<string[]> {
  const rows = await cluster()
    .node('west')
    .query<{ i: string }>(
      `SELECT table_name || '.' || index_name AS i FROM steep.deferred_indexes WHERE subscription = $1 ORDER BY 1`,
      [sub],
    );
  return rows.map((r) => r.i);
}

/** The apply_log rows of the init steps of `sub` on west: the statements they planned, and how they ended. */
async function initLogged(sub: string): Promise<Array<{ sql: string; status: string }>> {
  return cluster()
    .node('west')
    .query<{ sql: string; status: string }>(
      `SELECT sql, status FROM steep.apply_log WHERE address = $1 AND action = 'init' ORDER BY started_at`,
      [`subscription.${sub}`],
    );
}

async function holders(): Promise<number> {
  const rows = await cluster()
    .node('east')
    .query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep snapshot holder'`);
  return rows.length;
}

describe("snapshot init with steep's own copy", () => {
  beforeAll(async () => {
    const { nodes } = cluster();
    await createTables(nodes, [...TABLES, FILTERED]);
    await fillTables(cluster().node('east'), [...TABLES, FILTERED]);
    // a standalone sequence in the tables' schema: set at the snapshot, as two-phase does
    for (const n of nodes) await n.query('CREATE SEQUENCE public.own_seq');
    await cluster().node('east').query(`SELECT nextval('public.own_seq') FROM generate_series(1, 42)`);
  });

  it('splits the big table into key ranges, honours the row filter and column list, and reaches synchronized with both sides equal', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const names = TABLES.map((t) => t.name);
    const path = config(
      'own-copy',
      'west_own',
      names,
      '{ method: snapshot, parallel: 3, splitAbove: 512kB }',
      true,
    );

    const plan = await steep(['plan', '--json'], path);
    expect(plan.code, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as { steps: Array<Record<string, unknown>> }).steps;
    const init = steps.find((s) => s.action === 'init')!;
    expect(init.reasonText).toMatch(
      /steep copies 4 tables .* at an exported snapshot of a new slot west_own on east/,
    );
    expect(init.reasonText).toMatch(/init\.parallel is 3/);
    expect(init.reasonText).toMatch(
      /public\.own_big is above init\.splitAbove \(512\.0 kB\), split into key ranges/,
    );
    // the lock under which the big table's indexes are dropped, with its condition: a planned statement
    const lock = `-- when its copy starts, if public.own_big is empty and split into key ranges or of at least 16.0 MB, its indexes are dropped under this lock and built after its copy:\nLOCK TABLE "public"."own_big" IN ACCESS EXCLUSIVE MODE`;
    expect(init.sql).toEqual([lock]);
    expect(init.hazards).toEqual(['locks-table']);
    const create = steps.find((s) => s.action === 'create' && s.address === 'subscription.west_own')!;
    expect((create.sql as string[])[0]).toMatch(/create_slot = false/);
    expect((create.sql as string[])[0]).toMatch(/copy_data = false/);

    // west's own indexes of the big table: a unique constraint and a plain index, built after
    // the copy; its primary key, which a foreign key references, kept throughout
    await west.query('CREATE INDEX own_big_v ON public.own_big (v) WHERE n < 900');
    await west.query('ALTER TABLE public.own_big ADD CONSTRAINT own_big_n_id UNIQUE (n, id)');
    await west.query('CREATE TABLE public.own_ref (big_id bigint REFERENCES public.own_big (id))');
    const indexesBefore = await indexesOf(west, 'own_big');
    expect(indexesBefore).toEqual(
      expect.arrayContaining(['own_big_n_id UNIQUE (n, id)', 'own_big_pkey PRIMARY KEY (id)']),
    );

    const writer = startWriter(east, names);
    const applied = await steep(['apply', '--auto-approve', '--log-format', 'json'], path);
    const ops = await writer.stop();
    expect(applied.code, applied.stderr).toBe(0);
    expect(ops).toBeGreaterThan(0);
    expect(await recordedState('west_own')).toBe('synchronized');
    const events = parseEvents(applied.stderr);
    const planned = events.find((e) => e.event === 'init.copy_planned');
    expect(planned?.message).toMatch(/the indexes of public\.own_big \(2\) are built after the copy/);
    const built = events.filter((e) => e.event === 'init.indexes_built');
    expect(built.map((e) => e.table)).toEqual(['public.own_big']);
    expect(built[0]!.message).toMatch(
      /built the 2 indexes of public\.own_big deferred during the copy \(own_big_n_id, own_big_v\)/,
    );
    expect(await indexesOf(west, 'own_big')).toEqual(indexesBefore);
    expect(await deferredIndexes('west_own')).toEqual([]);
    expect(await initLogged('west_own')).toEqual([{ sql: lock, status: 'completed' }]);
    const states = events.filter((e) => e.event === 'init.state_change').map((e) => e.phase);
    expect(states).toEqual(expect.arrayContaining(['copying', 'catching_up', 'synchronized']));
    expect(events.filter((e) => e.event === 'init.table_complete').map((e) => e.table)).toEqual(
      expect.arrayContaining(names.map((n) => `public.${n}`)),
    );

    // the big table was copied on several sessions, in key ranges
    const chunksMsg = events.find(
      (e) => typeof e.message === 'string' && /key ranges/.test(e.message as string),
    );
    expect(chunksMsg?.message).toMatch(/public\.own_big in \d+ key ranges/);
    expect(
      Number(/own_big in (\d+) key ranges/.exec(chunksMsg!.message as string)![1]),
    ).toBeGreaterThanOrEqual(3);

    await waitCaughtUp(east, 'west_own');
    expect(await digests(west, names)).toEqual(await digests(east, names));
    expect(await west.query('SELECT last_value::text AS v, is_called FROM public.own_seq')).toEqual([
      { v: '42', is_called: true },
    ]);

    // the row filter and column list, exactly as published
    if (east.serverVersionNum >= 150000) {
      const [pub] = await east.query<{ count: string; sum: string }>(
        `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(id::text || v, 0)::numeric), 0)::text AS sum FROM public.${FILTERED.name} WHERE id % 1000 < 300`,
      );
      const [sub] = await west.query<{ count: string; sum: string; n: string }>(
        `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(id::text || v, 0)::numeric), 0)::text AS sum, max(n)::text AS n FROM public.${FILTERED.name}`,
      );
      expect(Number(pub!.count)).toBeGreaterThan(0);
      expect(Number(pub!.count)).toBeLessThan(FILTERED.rows);
      expect(sub).toEqual({ ...pub, n: '0' });
    } else {
      expect(await digests(west, [FILTERED.name])).toEqual(await digests(east, [FILTERED.name]));
    }

    // steep's bookkeeping of the copy is gone, and a fresh plan is empty
    const left = await west.query(`SELECT * FROM steep.copy_chunks WHERE subscription = 'west_own'`);
    expect(left).toEqual([]);
    const again = await steep(['plan', '--detailed-exitcode'], path);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 240_000);

  it('a SIGKILLed copy resumes after the chunks it finished, at the same snapshot', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    // slow enough that the kill lands mid-copy
    const path = await slowSplitCopy('resume', 60_000, '256kB');
    const writer = startWriter(east, ['own_resume']);

    const indexesBefore = await indexesOf(west, 'own_resume');
    expect(await applyKilledAfter(path, 'west_resume', 2)).toBe(true);
    const finished = await west.query<{ chunk: number; rows: string }>(
      `SELECT chunk, rows::text FROM steep.copy_chunks WHERE subscription = 'west_resume' AND completed_at IS NOT NULL`,
    );
    expect(finished.length).toBeGreaterThanOrEqual(2);
    expect(await recordedState('west_resume')).toBe('copying');
    // killed mid-copy: the primary key is dropped and recorded, to be built after the copy
    expect(await deferredIndexes('west_resume')).toEqual(['own_resume.own_resume_pkey']);
    expect(await indexesOf(west, 'own_resume')).toEqual(
      indexesBefore.filter((d) => !/own_resume_pkey/.test(d)),
    );
    // and init status, from another terminal, says which and when they come back
    const status = await steep(['init', 'status', 'west_resume'], path);
    expect(status.stdout).toContain(
      'indexes    public.own_resume: own_resume_pkey deferred during the copy, built once all its rows are in',
    );
    const statusJson = JSON.parse((await steep(['init', 'status', 'west_resume', '--json'], path)).stdout);
    expect(statusJson[0].deferredIndexes).toEqual([
      { table: 'public.own_resume', indexes: ['own_resume_pkey'], building: null },
    ]);

    await fastCopy(west, 'own_resume');
    const plan = await steep(['plan'], path);
    expect(plan.stdout).toMatch(/did not finish \(init copying\): it resumes after the chunks it finished/);
    const applied = await steep(['apply', '--auto-approve', ...RERUN, '--log-format', 'json'], path);
    await writer.stop();
    expect(applied.code, applied.stderr).toBe(0);
    const resumed = parseEvents(applied.stderr).find(
      (e) => typeof e.message === 'string' && /resuming the copy/.test(e.message as string),
    );
    expect(resumed?.message).toMatch(new RegExp(`${finished.length} of \\d+ chunks already copied`));
    expect(await recordedState('west_resume')).toBe('synchronized');
    expect(await indexesOf(west, 'own_resume')).toEqual(indexesBefore);
    expect(await deferredIndexes('west_resume')).toEqual([]);
    await waitCaughtUp(east, 'west_resume');
    expect(await digests(west, ['own_resume'])).toEqual(await digests(east, ['own_resume']));
    await eventually(async () => (await holders()) === 0, HANG_MS, 'the snapshot holder to let go');
  }, 240_000);

  it('a copy whose snapshot is no longer held starts over: the plan shows the TRUNCATE and slot drop it may run, apply runs them, and apply_log records them', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const path = await slowSplitCopy('over', 30_000);
    const writer = startWriter(east, ['own_over']);
    const indexesBefore = await indexesOf(west, 'own_over');
    expect(await applyKilledAfter(path, 'west_over', 1)).toBe(true);
    // the holder of its snapshot ends: the snapshot is gone, the slot stays
    await east.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'steep snapshot holder'`,
    );
    await eventually(async () => (await holders()) === 0, HANG_MS, 'the snapshot holder to end');
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_over'`)).toHaveLength(
      1,
    );
    const [loaded] = await west.query<{ n: string }>('SELECT count(*)::text AS n FROM public.own_over');
    expect(Number(loaded!.n)).toBeGreaterThan(0);

    const why = 'if the copy starts over (no snapshot of an earlier copy of west_over is still held)';
    const truncate = `-- ${why}, empty what that copy loaded:\nTRUNCATE TABLE "public"."own_over"`;
    const drop = `-- ${why}, drop the slot that copy made unless a process uses it:\nSELECT pg_catalog.pg_drop_replication_slot('west_over')`;
    const plan = await steep(['plan', '--json'], path);
    expect(plan.code, plan.stderr).toBe(0);
    const init = (JSON.parse(plan.stdout) as { steps: Array<Record<string, unknown>> }).steps.find(
      (x) => x.action === 'init',
    )!;
    expect((init.sql as string[]).slice(0, 2)).toEqual([truncate, drop]);
    expect(init.statementNodes).toEqual([null, 'east', null]);
    expect(init.hazards).toEqual(['truncates-data', 'drops-slot', 'locks-table']);
    const text = await steep(['plan'], path);
    expect(text.stdout).toContain(`| [on east] -- ${why}, drop the slot`);

    await fastCopy(west, 'own_over');
    const applied = await steep(['apply', '--auto-approve', ...RERUN, '--log-format', 'json'], path);
    await writer.stop();
    expect(applied.code, applied.stderr).toBe(0);
    const over = parseEvents(applied.stderr).find(
      (e) => typeof e.message === 'string' && /no longer held/.test(e.message as string),
    );
    expect(over?.message).toContain(
      `ran the plan's TRUNCATE TABLE "public"."own_over"; SELECT pg_catalog.pg_drop_replication_slot('west_over')`,
    );
    const logged = await initLogged('west_over');
    expect(logged.at(-1)).toEqual({ sql: (init.sql as string[]).join(';\n'), status: 'completed' });
    expect(await recordedState('west_over')).toBe('synchronized');
    expect(await indexesOf(west, 'own_over')).toEqual(indexesBefore);
    await waitCaughtUp(east, 'west_over');
    expect(await digests(west, ['own_over'])).toEqual(await digests(east, ['own_over']));
    const again = await steep(['plan', '--detailed-exitcode'], path);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 240_000);

  it("init status from another terminal while the deferred indexes are built: two tables' at once on the copy's sessions, which indexes, the phase", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'own_build', rows: 2_000 },
      { name: 'own_build2', rows: 2_000 },
    ];
    await createTables(cluster().nodes, tables);
    await fillTables(east, tables);
    // an index whose build takes ~4 s: its expression sleeps 2 ms a row (declared immutable, so it may index)
    await west.query(
      `CREATE FUNCTION public.slow_key(k int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN k; END $$`,
    );
    for (const t of tables)
      await west.query(`CREATE INDEX ${t.name}_slow ON public.${t.name} (public.slow_key(n))`);
    const indexesBefore = await Promise.all(tables.map((t) => indexesOf(west, t.name)));
    const path = config(
      'own-build',
      'west_build',
      tables.map((t) => t.name),
      '{ method: snapshot, parallel: 2, splitAbove: 64kB }',
    );
    const applying = steep(['apply', '--auto-approve'], path);
    // each table's primary key is built first, in the same transaction: both tables' builds are
    // under way at once, each on a session of its own
    const building = (t: string) =>
      new RegExp(
        `indexes {4}public\\.${t}: building ${t}_pkey, ${t}_slow \\(building index: [a-z ]+(, \\d+\\.\\d%)?\\)`,
      );
    await eventually(
      async () => {
        const status = (await steep(['init', 'status', 'west_build'], path)).stdout;
        return tables.every((t) => building(t.name).test(status));
      },
      HANG_MS,
      "init status to show both tables' indexes being built at once",
    );
    const applied = await applying;
    expect(applied.code, applied.stderr).toBe(0);
    expect(await Promise.all(tables.map((t) => indexesOf(west, t.name)))).toEqual(indexesBefore);
    expect((await steep(['init', 'status', 'west_build'], path)).stdout).not.toContain('indexes ');
    await waitCaughtUp(east, 'west_build');
    const names = tables.map((t) => t.name);
    expect(await digests(west, names)).toEqual(await digests(east, names));
  }, 120_000);

  it('a unique index the copied rows break: apply fails naming it, its rows stay recorded while the table built beside it is done, and init cancel builds it on the emptied table', async () => {
    const west = cluster().node('west');
    await createTables(cluster().nodes, [
      { name: 'own_dup', rows: 0 },
      { name: 'own_dup_ok', rows: 0 },
    ]);
    await fillTables(cluster().node('east'), [
      { name: 'own_dup', rows: 20_000 },
      { name: 'own_dup_ok', rows: 20_000 },
    ]);
    // west alone has it, and the rows repeat n
    await west.query('ALTER TABLE public.own_dup ADD CONSTRAINT own_dup_n UNIQUE (n)');
    const indexesBefore = await indexesOf(west, 'own_dup');
    const okBefore = await indexesOf(west, 'own_dup_ok');
    const path = config(
      'own-dup',
      'west_dup',
      ['own_dup', 'own_dup_ok'],
      '{ method: snapshot, parallel: 2, splitAbove: 128kB }',
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code).toBe(1);
    expect(applied.stdout + applied.stderr).toMatch(
      /cannot build the indexes of public\.own_dup \(own_dup_pkey, own_dup_n\) deferred during the copy: could not create unique index "own_dup_n"/,
    );
    expect(await recordedState('west_dup')).toBe('failed');
    expect(await deferredIndexes('west_dup')).toEqual(['own_dup.own_dup_n', 'own_dup.own_dup_pkey']);
    // the other table's build, under way on the second session, ended as it would: built, forgotten
    expect(await indexesOf(west, 'own_dup_ok')).toEqual(okBefore);

    const cancelled = await steep(['init', 'cancel', 'west_dup'], path);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(await west.query('SELECT 1 FROM public.own_dup LIMIT 1')).toEqual([]);
    expect(await indexesOf(west, 'own_dup')).toEqual(indexesBefore);
    expect(await deferredIndexes('west_dup')).toEqual([]);
  }, 120_000);

  it('a subscription dropped from steep.yaml mid-copy: apply --allow-destroy builds the indexes its copy deferred, then drops it; its snapshot holder lets go', async () => {
    const west = cluster().node('west');
    const path = await slowSplitCopy('gone', 30_000);
    const indexesBefore = await indexesOf(west, 'own_gone');
    expect(await applyKilledAfter(path, 'west_gone', 1)).toBe(true);
    expect(await deferredIndexes('west_gone')).toEqual(['own_gone.own_gone_pkey']);

    const without = writeConfig(readFileSync(path, 'utf8').replace(/subscriptions:[\s\S]*$/, ''));
    const plan = await steep(['plan'], without);
    expect(plan.stdout).toMatch(/DO \$steep\$ .*deferred_indexes/);
    const applied = await steep(['apply', '--auto-approve', '--allow-destroy'], without);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(await west.query(`SELECT 1 FROM pg_subscription WHERE subname = 'west_gone'`)).toEqual([]);
    expect(await indexesOf(west, 'own_gone')).toEqual(indexesBefore);
    expect(await deferredIndexes('west_gone')).toEqual([]);
    await fastCopy(west, 'own_gone');
    // the killed copy's snapshot holder, orphaned, finds its slot dropped and lets the snapshot go
    // (its hold time is 10 minutes)
    await eventually(async () => (await holders()) === 0, HANG_MS, 'the snapshot holder to let go');
  }, 120_000);

  it('init cancel of a SIGKILLed copy ends its snapshot holder, drops the slot, empties the tables and forgets the chunks', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const path = await slowSplitCopy('cancel', 30_000);
    const indexesBefore = await indexesOf(west, 'own_cancel');
    expect(await applyKilledAfter(path, 'west_cancel', 1)).toBe(true);
    expect(await holders()).toBe(1);
    expect(await deferredIndexes('west_cancel')).toEqual(['own_cancel.own_cancel_pkey']);
    const [copied] = await west.query<{ n: string }>('SELECT count(*)::text AS n FROM public.own_cancel');
    expect(Number(copied!.n)).toBeGreaterThan(0);

    const cancelled = await steep(['init', 'cancel', 'west_cancel'], path);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(await holders()).toBe(0);
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_cancel'`)).toEqual(
      [],
    );
    expect(await west.query('SELECT 1 FROM public.own_cancel LIMIT 1')).toEqual([]);
    expect(await west.query(`SELECT 1 FROM steep.copy_chunks WHERE subscription = 'west_cancel'`)).toEqual(
      [],
    );
    expect(await west.query(`SELECT 1 FROM pg_subscription WHERE subname = 'west_cancel'`)).toEqual([]);
    expect(await recordedState('west_cancel')).toBe('uninitialized');
    // the primary key the copy had deferred is back
    expect(await indexesOf(west, 'own_cancel')).toEqual(indexesBefore);
    expect(await deferredIndexes('west_cancel')).toEqual([]);
  }, 120_000);

  /**
   * Table own_T with `rows` rows on east, subscription west_T to it by steep's own copy on 2
   * sessions, in ranges above `splitAbove`, its copy into west slowed; returns the file's path.
   */
  async function slowSplitCopy(t: string, rows: number, splitAbove = '128kB'): Promise<string> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const table = `own_${t}`;
    await createTables([east, west], [{ name: table, rows: 0 }]);
    await fillTables(east, [{ name: table, rows }]);
    const path = config(
      `own-${t}`,
      `west_${t}`,
      [table],
      `{ method: snapshot, parallel: 2, splitAbove: ${splitAbove} }`,
    );
    await slowCopy(west, table, 500, 40);
    return path;
  }

  /** Terminate one session on `node` whose query is ILIKE `like` (and in `state`), polling up to HANG_MS. */
  async function terminateOnce(node: TestNode, like: string, state?: string): Promise<boolean> {
    const deadline = Date.now() + HANG_MS;
    while (Date.now() < deadline) {
      const [r] = await node.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE query ILIKE $1 AND ($2::text IS NULL OR state = $2) AND pid <> pg_backend_pid() LIMIT 1`,
        [like, state ?? null],
      );
      if (r?.ok === true) return true;
      await new Promise((res) => setTimeout(res, 20));
    }
    return false;
  }

  /** With the copy into `table` sped up again, `applying` ends 0, `sub` synchronized, both sides equal. */
  async function expectCopied(applying: Promise<CliResult>, sub: string, table: string): Promise<void> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await fastCopy(west, table);
    const applied = await applying;
    expect(applied.code, applied.stderr).toBe(0);
    expect(await recordedState(sub)).toBe('synchronized');
    await waitCaughtUp(east, sub);
    expect(await digests(west, [table])).toEqual(await digests(east, [table]));
  }

  it("retries a chunk whose session is killed mid-copy, and the table ends equal (no chunk's rows twice)", async () => {
    const west = cluster().node('west');
    const path = await slowSplitCopy('retry', 30_000);
    const applying = steep(['apply', '--auto-approve'], path);
    // the first COPY into the table the subscriber runs is terminated once, mid-chunk
    expect(await terminateOnce(west, 'COPY%own_retry%FROM STDIN%')).toBe(true);
    await expectCopied(applying, 'west_retry', 'own_retry');
  }, 120_000);

  it('retries a chunk whose publisher session is killed, during its COPY or between two, and the table ends equal', async () => {
    const east = cluster().node('east');
    const path = await slowSplitCopy('pubkill', 30_000);
    const applying = steep(['apply', '--auto-approve'], path);
    // a publisher session of the copy is terminated once: pg_stat_activity shows its COPY as its
    // query while it runs and after (idle in its transaction between chunks), so either. Lost
    // between chunks, the next chunk's COPY failed before anything read it, and steep ended
    // with an unhandled 'error' event and a stack trace.
    expect(await terminateOnce(east, 'COPY%own_pubkill%TO STDOUT%')).toBe(true);
    await expectCopied(applying, 'west_pubkill', 'own_pubkill');
  }, 120_000);

  it('a publisher session killed during its COPY: the rows it had passed on are rolled back on the subscriber, the chunk is copied again, and the table ends equal', async () => {
    const east = cluster().node('east');
    // one chunk of ~30 MB, more than the sockets and streams between the two servers hold, so
    // with the subscriber's copy slowed the publisher's COPY is still running when killed
    const path = await slowSplitCopy('midcopy', 600_000, '1GB');
    const applying = steep(['apply', '--auto-approve'], path);
    // the rows go on in the CopyData messages they came in, so the subscriber's COPY may stop
    // inside one: its session is closed (not told CopyFail), and its transaction rolled back
    expect(await terminateOnce(east, 'COPY%own_midcopy%TO STDOUT%', 'active')).toBe(true);
    await expectCopied(applying, 'west_midcopy', 'own_midcopy');
  }, 120_000);

  it('gives up on a chunk after 3 attempts, saying so, and the copy stays resumable', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const path = await slowSplitCopy('bound', 20_000);
    const applying = steep(['apply', '--auto-approve'], path);
    // every COPY into the table is terminated, until the apply ends
    let ended = false;
    let kills = 0;
    void applying.then(() => {
      ended = true;
    });
    while (!ended) {
      const rows = await west.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE query ILIKE 'COPY%own_bound%FROM STDIN%' AND pid <> pg_backend_pid()`,
      );
      kills += rows.filter((r) => r.ok).length;
      await new Promise((res) => setTimeout(res, 20));
    }
    const r = await applying;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/copy of public\.own_bound \(range \d+\) failed after 3 attempts/);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    await fastCopy(west, 'own_bound');
    const again = await steep(['apply', '--auto-approve', ...RERUN], path);
    expect(again.code, again.stderr).toBe(0);
    await waitCaughtUp(east, 'west_bound');
    expect(await digests(west, ['own_bound'])).toEqual(await digests(east, ['own_bound']));
  }, 120_000);

  it('a Ctrl-C while the slot waits for a transaction open on the publisher cancels the wait: exit 130, no slot, and the rerun copies', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const table: TableDef = { name: 'own_wait', rows: 3_000 };
    await createTables([east, west], [table]);
    await fillTables(east, [table]);
    const path = config('own-wait', 'west_ow', [table.name], '{ method: snapshot, parallel: 2 }');
    const slotMade = async () =>
      (await east.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_ow'")).length > 0;
    const blocker = await east.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_current_xact_id()');
    let stopped: Exited;
    try {
      const applying = startSteep(['apply', '--auto-approve', '-c', path], env());
      await eventually(
        async () =>
          (
            await east.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'steep snapshot holder' AND query LIKE 'CREATE_REPLICATION_SLOT%' AND state = 'active'",
            )
          ).length > 0,
        HANG_MS,
        'the holder waiting for the open transaction',
      );
      applying.child.kill('SIGINT');
      stopped = await applying.exited;
    } finally {
      await blocker.query('COMMIT').catch(() => {});
      await blocker.end().catch(() => {});
    }
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toContain(
      "steep's copy into west stopped while slot west_ow waited for the transactions open on east to end: no slot was made",
    );
    expect(await slotMade()).toBe(false);
    expect(await recordedState('west_ow')).toBe('copying');
    const writer = startWriter(east, [table.name]);
    const applied = await steep(['apply', '--auto-approve'], path);
    await writer.stop();
    expect(applied.code, applied.stderr).toBe(0);
    expect(await recordedState('west_ow')).toBe('synchronized');
    await waitCaughtUp(east, 'west_ow');
    expect(await digests(west, [table.name])).toEqual(await digests(east, [table.name]));
  }, 120_000);

  it("a Ctrl-C'd copy exits 130, stays copying with its finished chunks kept, and the rerun resumes after them", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const path = await slowSplitCopy('int', 40_000);
    expect(await applyKilledAfter(path, 'west_int', 1, 'SIGINT')).toBe(true);
    const finished = await west.query<{ chunk: number }>(
      `SELECT chunk FROM steep.copy_chunks WHERE subscription = 'west_int' AND completed_at IS NOT NULL`,
    );
    expect(finished.length).toBeGreaterThanOrEqual(1);
    expect(await recordedState('west_int')).toBe('copying');
    await fastCopy(west, 'own_int');
    const applied = await steep(['apply', '--auto-approve', ...RERUN, '--log-format', 'json'], path);
    expect(applied.code, applied.stderr).toBe(0);
    const resumed = parseEvents(applied.stderr).find(
      (e) => typeof e.message === 'string' && /resuming the copy/.test(e.message as string),
    );
    expect(resumed?.message).toMatch(/[1-9]\d* of \d+ chunks already copied/);
    expect(await recordedState('west_int')).toBe('synchronized');
    await waitCaughtUp(east, 'west_int');
    expect(await digests(west, ['own_int'])).toEqual(await digests(east, ['own_int']));
  }, 120_000);
});
