import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The major-version-upgrade case: a PostgreSQL 14 publisher and an 18 subscriber in one
 * steep.yaml; a snapshot init copies the tables across, later writes on 14 arrive on 18, and a
 * fresh plan is empty; steep's own copy (text COPY across majors, a table in key ranges) does the
 * same and brings the sequences along; so does a two-phase snapshot generated on 14 (text files)
 * and applied on 18 with a writer running on 14 throughout.
 */
const oldCluster = useCluster({ nodes: ['old'], version: 14 });
const newCluster = useCluster({ nodes: ['new'], version: 18 });

const TABLES: TableDef[] = [
  { name: 'xv_orders', rows: 20_000 },
  { name: 'xv_items', rows: 5_000 },
];
const NAMES = TABLES.map((t) => t.name);

describe('cross-version replication', () => {
  it('replicates from a PostgreSQL 14 publisher to an 18 subscriber with a snapshot init', async () => {
    const old = oldCluster().node('old');
    const neu = newCluster().node('new');
    expect(old.serverVersionNum).toBeLessThan(150000);
    expect(neu.serverVersionNum).toBeGreaterThanOrEqual(180000);
    await createTables([old, neu], TABLES);
    await fillTables(old, TABLES);

    const path = writeConfig(
      [
        'version: 1',
        'topology: cross-version',
        nodesYaml([old, neu]),
        'publications:',
        '  upgrade_pub:',
        '    node: old',
        `    tables: [${NAMES.map((t) => `public.${t}`).join(', ')}]`,
        'subscriptions:',
        '  new_upgrade:',
        '    node: new',
        '    from: old',
        '    publications: [upgrade_pub]',
        '    init:',
        '      method: snapshot',
        '',
      ].join('\n'),
    );
    const env = passwordEnv([old, neu]);
    const steep = steepWith({ config: path, env, timeoutMs: 180_000 });

    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const [state] = await neu.query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'new' AND subscription = 'new_upgrade'`,
    );
    expect(state?.state).toBe('synchronized');
    await waitCaughtUp(old, 'new_upgrade');
    expect(await digests(neu, NAMES)).toEqual(await digests(old, NAMES));

    // rows written on 14 after the init arrive on 18
    await old.query(
      `INSERT INTO public.xv_orders (id, v, n) VALUES (900001, 'after-init', 1), (900002, 'x', 2)`,
    );
    await old.query(`UPDATE public.xv_items SET v = 'changed' WHERE id = 42`);
    await old.query(`DELETE FROM public.xv_items WHERE id = 43`);
    await eventually(
      async () =>
        (await neu.query(`SELECT 1 FROM public.xv_orders WHERE id IN (900001, 900002)`)).length === 2,
      HANG_MS,
      'rows inserted on 14 to arrive on 18',
    );
    await waitCaughtUp(old, 'new_upgrade');
    expect(await digests(neu, NAMES)).toEqual(await digests(old, NAMES));

    const plan = await steep(['plan', '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);
  });

  it("copies from 14 to 18 with steep's own copy at an exported snapshot (text COPY, key ranges), sequences included", async () => {
    const old = oldCluster().node('old');
    const neu = newCluster().node('new');
    const split: TableDef[] = [{ name: 'xv_split', rows: 30_000 }];
    await createTables([old, neu], split);
    await fillTables(old, split);
    for (const n of [old, neu])
      await n.query('CREATE TABLE public.xv_serial (id bigserial PRIMARY KEY, v text)');
    await old.query(`INSERT INTO public.xv_serial (v) SELECT 'x' FROM generate_series(1, 700)`);
    const path = writeConfig(
      [
        'version: 1',
        'topology: cross-version-own',
        nodesYaml([old, neu]),
        'publications:',
        '  own_pub:',
        '    node: old',
        '    tables: [public.xv_split, public.xv_serial]',
        'subscriptions:',
        '  new_own:',
        '    node: new',
        '    from: old',
        '    publications: [own_pub]',
        '    init: { method: snapshot, parallel: 2, splitAbove: 256kB }',
        '',
      ].join('\n'),
    );
    const env = passwordEnv([old, neu]);
    const applied = await runSteep(['apply', '--auto-approve', '--log-format', 'json', '-c', path], {
      env,
      timeoutMs: 180_000,
    });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toMatch(/public\.xv_split in \d+ key ranges[^"]*text COPY/);
    await waitCaughtUp(old, 'new_own');
    const names = ['xv_split', 'xv_serial'];
    expect(await digests(neu, names)).toEqual(await digests(old, names));
    // the sequence came along: an insert on 18 through the default does not collide
    await neu.query(`INSERT INTO public.xv_serial (v) VALUES ('on 18')`);
    const [{ id } = { id: '' }] = await neu.query<{ id: string }>(
      `SELECT max(id)::text AS id FROM public.xv_serial`,
    );
    expect(id).toBe('701');
    await neu.query(`DELETE FROM public.xv_serial WHERE id = 701`);
    const synced = await runSteep(['sequences', 'sync', 'new_own', '--json', '-c', path], { env });
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ set: 0, problems: 0 });
  });

  it('seeds an 18 subscriber from a two-phase snapshot of a 14 publisher (text files) with a writer running', async () => {
    const old = oldCluster().node('old');
    const neu = newCluster().node('new');
    const tables: TableDef[] = [
      { name: 'xv_tp_big', rows: 30_000 },
      { name: 'xv_tp_small', rows: 1_000 },
    ];
    const names = tables.map((t) => t.name);
    await createTables([old, neu], tables);
    await fillTables(old, tables);
    const path = writeConfig(
      [
        'version: 1',
        'topology: cross-version-two-phase',
        nodesYaml([old, neu]),
        'publications:',
        '  tp_pub:',
        '    node: old',
        `    tables: [${names.map((t) => `public.${t}`).join(', ')}]`,
        'subscriptions:',
        '  new_tp:',
        '    node: new',
        '    from: old',
        '    publications: [tp_pub]',
        '    init: { method: two-phase, parallel: 2, splitAbove: 256kB }',
        '',
      ].join('\n'),
    );
    const steep = steepWith({ config: path, env: passwordEnv([old, neu]), timeoutMs: 180_000 });
    const created = await steep(['apply', '--auto-approve']);
    expect(created.code, created.stderr).toBe(0);
    const writer = startWriter(old, names);
    const dir = tempDir('steep-xv-snap-');
    const generated = await steep(['snapshot', 'generate', 'new_tp', '--output', dir, '--json']);
    expect(generated.code, generated.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      format: string;
      serverVersion: number;
      tables: Array<{ name: string; files: unknown[] }>;
    };
    expect(m.format).toBe('text');
    expect(m.serverVersion).toBeLessThan(150000);
    expect(m.tables.find((t) => t.name === 'xv_tp_big')!.files.length).toBeGreaterThanOrEqual(2);
    const applied = await steep(['snapshot', 'apply', 'new_tp', '--input', dir, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ state: 'synchronized' });
    expect(await writer.stop()).toBeGreaterThan(0);
    await waitCaughtUp(old, 'new_tp');
    expect(await digests(neu, names)).toEqual(await digests(old, names));
    const [row] = await neu.query<{ status: string }>(
      `SELECT status FROM steep.snapshots WHERE node_name = 'new' AND subscription = 'new_tp'`,
    );
    expect(row?.status).toBe('applied');
    const plan = await steep(['plan', '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);
  }, 180_000);
});
