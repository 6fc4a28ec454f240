import { describe, expect, it } from 'vitest';
import { type IdWriter, startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A table that leaves a subscription and joins it again while its rows stay on the subscriber
 * (issue 62): the refresh that brings it back obeys `init.existingData` as a create does —
 * `fail` refuses naming the table, `keep` is gated `data-gap` (the rows written while it was out
 * would never arrive), `truncate` empties just the rejoining tables (gated `truncates-data`) and
 * the refresh copies them. Both ways out and back: the subscription's publication list
 * (`[p1, p2]` → `[p2]` → `[p2, p1]`), and the table removed from the publication in steep.yaml
 * and added back; a keyed table and a keyless one (REPLICA IDENTITY FULL), with an application
 * writing both on the publisher throughout, counted by acknowledged ids.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_rj';
const APP = { user: 'rj_app', password: 'rj-app-secret-1' };
const MOVING = ['rj_keyed', 'rj_keyless'];
const ALL = [...MOVING, 'rj_other'];
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

function config(opts: { subscribed: string[]; p1: string[]; existingData?: string }): string {
  const east = cluster().node('east');
  const west = cluster().node('west');
  return writeConfig(
    [
      'version: 1',
      'topology: rejoin',
      nodesYaml([east, west]),
      'publications:',
      '  rj_p1:',
      '    node: east',
      `    tables: [${opts.p1.map((t) => `public.${t}`).join(', ')}]`,
      '  rj_p2:',
      '    node: east',
      '    tables: [public.rj_other]',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      `    publications: [${opts.subscribed.join(', ')}]`,
      ...(opts.existingData ? [`    init: { method: snapshot, existingData: ${opts.existingData} }`] : []),
      '',
    ].join('\n'),
  );
}

/** pg_subscription_rel of the subscription on west: `table` → state. */
async function relations(west: TestNode): Promise<Record<string, string>> {
  const rows = await west.query<{ t: string; s: string }>(
    `SELECT c.relname AS t, r.srsubstate::text AS s FROM pg_subscription_rel r
       JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid
      WHERE s.subname = $1`,
    [SUB],
  );
  return Object.fromEntries(rows.map((r) => [r.t, r.s]));
}

async function allReady(west: TestNode, tables: string[]): Promise<void> {
  await eventually(
    async () => {
      const rel = await relations(west);
      return tables.every((t) => rel[t] === 'r');
    },
    HANG_MS,
    `${tables.join(', ')} ready on west`,
  );
}

/** Per table: acknowledged ids missing on west (lost), and ids west holds more than once (doubled). */
async function counted(west: TestNode, writers: Record<string, IdWriter>) {
  const out: Record<string, { acknowledged: number; lost: number; doubled: number }> = {};
  for (const [table, w] of Object.entries(writers)) {
    const acked = w.acknowledged().get('east') ?? [];
    const rows = await west.query<{ id: string; n: string }>(
      `SELECT id::text, count(*)::text AS n FROM public.${table} GROUP BY id`,
    );
    const held = new Map(rows.map((r) => [Number(r.id), Number(r.n)]));
    out[table] = {
      acknowledged: acked.length,
      lost: acked.filter((id) => !held.has(id)).length,
      doubled: rows.filter((r) => Number(r.n) > 1).length,
    };
  }
  return out;
}

/** While the application writes the moving tables on east: out (`leave`), 30 more writes each, back (`rejoin`). */
async function outAndBack(leave: string, back: (existingData?: string) => string, label: string) {
  const east = cluster().node('east');
  const west = cluster().node('west');
  const writers = Object.fromEntries(
    MOVING.map((t) => [t, startIdWriter({ east }, APP, `public.${t}`, () => 'east')]),
  );
  const written = async (n: number) => {
    const from = Object.fromEntries(
      MOVING.map((t) => [t, writers[t]!.acknowledged().get('east')?.length ?? 0]),
    );
    await eventually(
      async () => MOVING.every((t) => (writers[t]!.acknowledged().get('east')?.length ?? 0) >= from[t]! + n),
      HANG_MS,
      `${n} more writes on each table (${label})`,
    );
  };
  try {
    await written(10);
    const out = await steep(['apply', '--auto-approve'], leave);
    expect(out.code, out.stdout + out.stderr).toBe(0);
    expect(Object.keys(await relations(west)).sort()).toEqual(['rj_other']);
    // written while the tables are out of the subscription: only a copy brings them
    await written(30);
    const westBefore = await digests(west, MOVING);

    // existingData: fail (the default): refused, naming both tables and the ways out
    const refused = await steep(['apply', '--auto-approve'], back());
    if (refused.code === 0) {
      // the reproduction (before the fix): the refresh copies on top of the rows west holds
      await eventually(async () => (await relations(west)).rj_keyless === 'r', HANG_MS, 'rj_keyless synced');
      expect(await counted(west, writers)).toEqual({});
    }
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      `subscription ${SUB} would copy public.rj_keyed and public.rj_keyless, which join it, into tables that already hold rows on west`,
    );
    expect(refused.stdout + refused.stderr).toContain('init.existingData: truncate');
    expect(await digests(west, MOVING)).toEqual(westBefore);

    // existingData: keep: the refresh would copy nothing, and the rows written while out would never arrive
    const keep = await steep(['apply', '--auto-approve'], back('keep'));
    expect(keep.code, keep.stdout + keep.stderr).toBe(1);
    expect(keep.stdout + keep.stderr).toContain(
      `subscription ${SUB}: public.rj_keyed and public.rj_keyless join it without a copy (init.existingData: keep) while they hold rows on west`,
    );
    expect(keep.stderr).toContain('rerun with --allow-hazard data-gap');
    expect(await digests(west, MOVING)).toEqual(westBefore);

    // existingData: truncate: gated, then the two tables are emptied and copied again
    const held = await steep(['apply', '--auto-approve'], back('truncate'));
    expect(held.code, held.stdout + held.stderr).toBe(1);
    expect(held.stderr).toContain('rerun with --allow-hazard truncates-data');
    expect(await digests(west, MOVING)).toEqual(westBefore);
    const plan = await steep(['plan', '--json'], back('truncate'));
    const step = (
      JSON.parse(plan.stdout) as { steps: Array<{ address: string; hazards: string[]; sql: string[] }> }
    ).steps.find((s) => s.address === `subscription.${SUB}`)!;
    expect(step.hazards).toEqual(['truncates-data', 'copies-data']);
    expect(step.sql.join('\n')).toContain('TRUNCATE TABLE "public"."rj_keyed", "public"."rj_keyless"');
    const applied = await steep(
      ['apply', '--auto-approve', '--allow-hazard', 'truncates-data'],
      back('truncate'),
    );
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await allReady(west, ALL);
    await written(20);
  } finally {
    for (const w of Object.values(writers)) await w.stop();
  }
  await waitCaughtUp(east, SUB);
  const after = await counted(west, writers);
  console.info(`${label}: ${JSON.stringify(after)}`);
  expect(after).toEqual(
    Object.fromEntries(
      MOVING.map((t) => [
        t,
        { acknowledged: writers[t]!.acknowledged().get('east')!.length, lost: 0, doubled: 0 },
      ]),
    ),
  );
  expect(await digests(west, ALL)).toEqual(await digests(east, ALL));
  const quiet = await steep(['plan', '--detailed-exitcode'], back('truncate'));
  expect(quiet.code, quiet.stdout + quiet.stderr).toBe(0);
}

describe('a table leaves a subscription and joins it again (issue 62)', { timeout: 360_000 }, () => {
  it('set up: east publishes a keyed and a keyless table, west receives them', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.rj_keyed (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query('CREATE TABLE public.rj_keyless (id bigserial NOT NULL, v text NOT NULL)');
      await n.query('ALTER TABLE public.rj_keyless REPLICA IDENTITY FULL');
      await n.query('CREATE TABLE public.rj_other (id bigint PRIMARY KEY, v text NOT NULL)');
      for (const t of MOVING) {
        await n.query(`GRANT SELECT, INSERT ON public.${t} TO ${APP.user}`);
        await n.query(`GRANT USAGE ON SEQUENCE public.${t}_id_seq TO ${APP.user}`);
      }
    }
    for (const t of MOVING)
      await east.query(`INSERT INTO public.${t} (v) SELECT md5(g::text) FROM generate_series(1, 10) g`);
    await east.query(`INSERT INTO public.rj_other SELECT g, md5(g::text) FROM generate_series(1, 10) g`);
    const created = await steep(
      ['apply', '--auto-approve'],
      config({ subscribed: ['rj_p1', 'rj_p2'], p1: ALL }),
    );
    expect(created.code, created.stdout + created.stderr).toBe(0);
    await allReady(west, ALL);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ALL)).toEqual(await digests(east, ALL));
  });

  it('publications [p1, p2] → [p2] → [p2, p1]: fail refuses, keep is a data-gap gate, truncate copies them again', async () => {
    await outAndBack(
      config({ subscribed: ['rj_p2'], p1: ALL }),
      (existingData) => config({ subscribed: ['rj_p2', 'rj_p1'], p1: ALL, existingData }),
      'publication list',
    );
  });

  it('the tables removed from the publication in steep.yaml and added back: the same', async () => {
    await outAndBack(
      config({ subscribed: ['rj_p1', 'rj_p2'], p1: ['rj_other'] }),
      (existingData) => config({ subscribed: ['rj_p1', 'rj_p2'], p1: ALL, existingData }),
      'publication tables',
    );
  });
});

/**
 * The same on a `two-phase` subscription once its snapshot is applied: it streams like any other,
 * so a table added later is copied by PostgreSQL's refresh (docs/steep-yaml.md), and a table back
 * in it obeys `init.existingData`. Before, every refresh of a two-phase subscription ran with
 * `copy_data = false`: the added table stayed empty on west and the rejoining one never received
 * the rows written while it was out, with apply exit 0 and status `synchronized` (found by the
 * torture operation table-leave-rejoin, seed 2407 on 17).
 */
describe('a two-phase subscription: tables added later and tables back (issue 62)', {
  timeout: 360_000,
}, () => {
  it('the added table is copied; the table back is refused for existingData, then copied with truncate; nothing lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const SUB2 = 'west_tp';
    const APP2 = { user: 'tp_app', password: 'tp-app-secret-1' };
    const TABLES2 = ['tp_a', 'tp_b'];
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP2.user} LOGIN PASSWORD '${APP2.password}'`);
      for (const t of TABLES2) {
        await n.query(`CREATE TABLE public.${t} (id bigserial PRIMARY KEY, v text NOT NULL)`);
        await n.query(`GRANT SELECT, INSERT ON public.${t} TO ${APP2.user}`);
        await n.query(`GRANT USAGE ON SEQUENCE public.${t}_id_seq TO ${APP2.user}`);
      }
    }
    for (const t of TABLES2)
      await east.query(`INSERT INTO public.${t} (v) SELECT md5(g::text) FROM generate_series(1, 50) g`);
    const file = (tables: string[], existingData?: string) =>
      writeConfig(
        [
          'version: 1',
          'topology: rejoin_two_phase',
          nodesYaml([east, west]),
          'publications:',
          '  tp_pub:',
          '    node: east',
          `    tables: [${tables.map((t) => `public.${t}`).join(', ')}]`,
          'subscriptions:',
          `  ${SUB2}:`,
          '    node: west',
          '    from: east',
          '    publications: [tp_pub]',
          `    init: { method: two-phase${existingData ? `, existingData: ${existingData}` : ''} }`,
          '',
        ].join('\n'),
      );
    const ok = (r: { code: number; stdout: string; stderr: string }, what: string) =>
      expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
    ok(await steep(['apply', '--auto-approve'], file(['tp_a'])), 'create');
    const dir = tempDir('rejoin-two-phase-');
    ok(await steep(['snapshot', 'generate', SUB2, '--output', dir], file(['tp_a'])), 'snapshot generate');
    ok(await steep(['snapshot', 'apply', SUB2, '--input', dir], file(['tp_a'])), 'snapshot apply');

    const writers = Object.fromEntries(
      TABLES2.map((t) => [t, startIdWriter({ east }, APP2, `public.${t}`, () => 'east')]),
    );
    const acked = (t: string) => writers[t]!.acknowledged().get('east') ?? [];
    const more = async (n: number, what: string) => {
      const from = TABLES2.map((t) => acked(t).length);
      await eventually(
        async () => TABLES2.every((t, i) => acked(t).length >= from[i]! + n),
        HANG_MS,
        `${n} more writes on each table (${what})`,
      );
    };
    try {
      await more(20, 'before tp_b joins');
      // a table added later: copied by the refresh
      ok(await steep(['apply', '--auto-approve'], file(TABLES2)), 'tp_b added');
      await eventually(
        async () =>
          Number((await west.query<{ n: string }>('SELECT count(*)::text AS n FROM public.tp_b'))[0]!.n) > 0,
        HANG_MS,
        'tp_b copied to west',
      );
      // tp_a out, written, back
      ok(await steep(['apply', '--auto-approve'], file(['tp_b'])), 'tp_a out');
      await more(30, 'tp_a out');
      const refused = await steep(['apply', '--auto-approve'], file(TABLES2));
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stdout + refused.stderr).toContain('init.existingData: truncate');
      ok(
        await steep(
          ['apply', '--auto-approve', '--allow-hazard', 'truncates-data'],
          file(TABLES2, 'truncate'),
        ),
        'tp_a back with existingData: truncate',
      );
      await more(20, 'after tp_a is back');
    } finally {
      for (const w of Object.values(writers)) await w.stop();
    }
    await waitCaughtUp(east, SUB2);
    const lost = Object.fromEntries(
      await Promise.all(
        TABLES2.map(async (t) => [t, await idsMissing(west, `public.${t}`, acked(t))] as const),
      ),
    );
    console.log(
      `two-phase: acknowledged ${TABLES2.map((t) => `${t} ${acked(t).length}`).join(', ')}; missing on west ${JSON.stringify(lost)}`,
    );
    expect(lost).toEqual({ tp_a: 0, tp_b: 0 });
    expect(await digests(west, TABLES2)).toEqual(await digests(east, TABLES2));
    const quiet = await steep(['plan', '--detailed-exitcode'], file(TABLES2, 'truncate'));
    expect(quiet.code, quiet.stdout + quiet.stderr).toBe(0);
  });
});
