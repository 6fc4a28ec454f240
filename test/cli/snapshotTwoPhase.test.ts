import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { Heartbeat, startHolder } from '../../src/copy/snapshotHolder.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  indexesOf,
  startWriter,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { tempDir } from '../support/tempDir.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Two-phase init on real nodes with a writer on the publisher: steep apply creates the
 * subscription disabled; snapshot generate --compress gzip (SIGKILLed midway, then resumed without
 * rewriting the files it finished) writes the files; a corrupted byte, a truncated file and another
 * subscription's manifest are refused with the subscriber untouched; snapshot apply loads it,
 * sets the sequence and follows to synchronized with both sides equal (a row filter and a column
 * list exactly as published, on 15+); list and delete. Each step is recorded in the subscriber's
 * `snapshots` state table (generating → generated → applied → deleted), and a manifest edited to
 * match a changed file is refused by the SHA-256 generate recorded there. A second subscription's
 * snapshot deleted without --allow-destroy is still listed (files gone, slot retaining WAL), and
 * deleting it by its id drops the slot. A snapshot generated again, then its init cancelled: the
 * record says `cancelled`, list shows the slot gone, and apply refuses the files.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const TABLES = [
  { name: 'tp_big', rows: 60_000 },
  { name: 'tp_small', rows: 2_000 },
];
const NAMES = TABLES.map((t) => t.name);
const FILTERED = { name: 'tp_filtered', rows: 3_000 };
const OTHER = { name: 'tp_other', rows: 500 };

function env() {
  return passwordEnv(cluster().nodes);
}

const steep = steepWith({ env, timeoutMs: 180_000 });

function config(sub: string, second = false): string {
  const [east, west] = cluster().nodes;
  const filtered =
    east!.serverVersionNum >= 150000
      ? // on the key (fillTables: n = id % 1000): a filter on n, outside the replica identity, breaks updates
        [
          `      - name: public.${FILTERED.name}`,
          '        columns: [id, v]',
          '        where: "id % 1000 < 300"',
        ]
      : [`      - public.${FILTERED.name}`];
  return writeConfig(
    [
      'version: 1',
      'topology: two-phase',
      nodesYaml([east!, west!]),
      'publications:',
      '  tp_pub:',
      '    node: east',
      '    tables:',
      ...[...NAMES, 'tp_seq'].map((n) => `      - public.${n}`),
      ...filtered,
      ...(second ? ['  tp_pub2:', '    node: east', `    tables: [public.${OTHER.name}]`] : []),
      'subscriptions:',
      `  ${sub}:`,
      '    node: west',
      '    from: east',
      '    publications: [tp_pub]',
      '    init: { method: two-phase, parallel: 2, splitAbove: 256kB }',
      ...(second
        ? [
            '  west_tp2:',
            '    node: west',
            '    from: east',
            '    publications: [tp_pub2]',
            '    init: { method: two-phase }',
          ]
        : []),
      '',
    ].join('\n'),
  );
}

interface Recorded {
  snapshot_id: string;
  status: string;
  lsn: string;
  manifest_sha256: string | null;
  files: number | null;
  applied_at: Date | null;
}

/** The snapshots the subscriber's state records for `sub` (its own rows only). */
async function recorded(sub: string): Promise<Recorded[]> {
  return cluster()
    .node('west')
    .query<Recorded>(
      `SELECT snapshot_id, status, lsn::text AS lsn, manifest_sha256, files, applied_at
         FROM steep.snapshots WHERE node_name = 'west' AND subscription = $1`,
      [sub],
    );
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A topology of one two-phase subscription `sub` on west of east's `table`. */
function oneTableConfig(
  topology: string,
  sub: string,
  table: string,
  init = '{ method: two-phase }',
): string {
  return writeConfig(
    [
      'version: 1',
      `topology: ${topology}`,
      nodesYaml(cluster().nodes),
      'publications:',
      `  ${sub}_pub:`,
      '    node: east',
      `    tables: [public.${table}]`,
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

describe('two-phase init through snapshot generate and apply', () => {
  it('generates (resuming after SIGKILL), refuses damaged or foreign snapshots, applies, and reaches synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], [...TABLES, FILTERED, OTHER]);
    await fillTables(east, [...TABLES, FILTERED, OTHER]);
    for (const n of [east, west])
      await n.query('CREATE TABLE public.tp_seq (id bigserial PRIMARY KEY, v text)');
    await east.query(`INSERT INTO public.tp_seq (v) SELECT 'x' FROM generate_series(1, 500)`);
    const path = config('west_tp');
    const created = await steep(['apply', '--auto-approve'], path);
    expect(created.code, created.stderr).toBe(0);
    const [sub] = await west.query<{ subenabled: boolean }>(
      `SELECT subenabled FROM pg_subscription WHERE subname = 'west_tp'`,
    );
    expect(sub?.subenabled).toBe(false);

    const writer = startWriter(east, NAMES);
    const dir = tempDir('steep-snap-');
    // generate, killed once a few files are written
    const generate = startSteep(
      [
        'snapshot',
        'generate',
        'west_tp',
        '--output',
        dir,
        '--parallel',
        '1',
        '--compress',
        'gzip',
        '-c',
        path,
      ],
      env(),
    );
    const killed = await new Promise<boolean>((resolve) => {
      const poll = setInterval(() => {
        try {
          const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
            tables: Array<{ files: Array<{ sha256: string | null }> }>;
          };
          if (m.tables.flatMap((t) => t.files).filter((f) => f.sha256).length >= 2) {
            clearInterval(poll);
            generate.child.kill('SIGKILL');
          }
        } catch {
          // not written yet
        }
      }, 20);
      void generate.exited.then(({ signal }) => {
        clearInterval(poll);
        resolve(signal === 'SIGKILL');
      });
    });
    expect(killed).toBe(true);
    type M = {
      lsn: string;
      completedAt: string | null;
      tables: Array<{
        name: string;
        files: Array<{ file: string | null; sha256: string | null; rows: number | null }>;
      }>;
    };
    const before = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as M;
    expect(before.completedAt).toBeNull();
    expect(await recorded('west_tp')).toMatchObject([
      { snapshot_id: `west_tp@${before.lsn}`, status: 'generating', lsn: before.lsn, manifest_sha256: null },
    ]);
    const finished = before.tables.flatMap((t) => t.files).filter((f) => f.sha256);
    // the files it finished are kept as they are: not written again
    const written = new Map(finished.map((f) => [f.file!, statSync(join(dir, f.file!)).mtimeMs]));
    // while another generate touches the hold file it is under way: a second one is refused
    const touching = new Heartbeat(join(dir, '.steep-snapshot.hold'));
    const second = await steep(['snapshot', 'generate', 'west_tp', '--output', dir], path);
    touching.stop(false);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `a snapshot generate into ${dir} is under way (slot west_tp at ${before.lsn})`,
    );
    const resumed = await steep(
      ['snapshot', 'generate', 'west_tp', '--output', dir, '--compress', 'none', '--json'],
      path,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    const g = JSON.parse(resumed.stdout) as {
      kept: number;
      files: number;
      resumed: boolean;
      compress: string;
    };
    expect(g.resumed).toBe(true);
    // one snapshot, one compression: the rerun says it keeps the interrupted run's
    expect(g.compress).toBe('gzip');
    expect(resumed.stderr).toContain(
      `warning: --compress none ignored: the interrupted snapshot in ${dir} was started with --compress gzip, and all its files keep it`,
    );
    expect(g.kept).toBe(finished.length);
    expect(g.files).toBeGreaterThan(finished.length);
    for (const [f, mtime] of written) expect(statSync(join(dir, f)).mtimeMs, f).toBe(mtime);
    const after = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as M;
    expect(after.lsn).toBe(before.lsn);
    expect(after.completedAt).not.toBeNull();
    const big = after.tables.find((t) => t.name === 'tp_big')!;
    expect(big.files.length).toBeGreaterThanOrEqual(2);
    // gzip, as the interrupted run asked: the rerun continues the manifest's compression
    expect(after.tables.flatMap((t) => t.files).every((f) => f.file!.endsWith('.copy.gz'))).toBe(true);
    const manifestSum = sha256(readFileSync(join(dir, 'manifest.json')));
    expect(await recorded('west_tp')).toMatchObject([
      { status: 'generated', manifest_sha256: manifestSum, files: g.files, applied_at: null },
    ]);

    // damaged copies are refused before anything is written
    const refuse = async (damage: (d: string) => void, pattern: RegExp) => {
      const copy = tempDir('steep-snap-bad-');
      cpSync(dir, copy, { recursive: true });
      damage(copy);
      const r = await steep(['snapshot', 'apply', 'west_tp', '--input', copy], path);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect(Object.values(await digests(west, NAMES)).map((x) => x.count)).toEqual([0, 0]);
      expect((await recorded('west_tp')).map((x) => x.status)).toEqual(['generated']);
      expect(await west.query(`SELECT 1 FROM steep.copy_chunks WHERE subscription = 'west_tp'`)).toEqual([]);
      expect(await west.query(`SELECT subenabled FROM pg_subscription WHERE subname = 'west_tp'`)).toEqual([
        { subenabled: false },
      ]);
    };
    const file = big.files[0]!.file!;
    await refuse((d) => {
      const p = join(d, file);
      const b = readFileSync(p);
      const at = Math.floor(b.length / 2);
      b[at] = (b[at] ?? 0) ^ 0xff;
      writeFileSync(p, b);
    }, /does not match its manifest, so nothing was loaded: .*SHA-256 differs/);
    await refuse((d) => truncateSync(join(d, file), 10), /truncated/);
    await refuse((d) => {
      const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...m, subscription: 'other_sub' }));
    }, /is a snapshot of .*subscription other_sub.*not of subscription west_tp/);
    // a file changed and the manifest edited to match it: only the SHA-256 generate recorded tells
    await refuse((d) => {
      const p = join(d, file);
      const b = readFileSync(p);
      b[0] = (b[0] ?? 0) ^ 0xff;
      writeFileSync(p, b);
      const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as M;
      for (const f of m.tables.flatMap((t) => t.files)) if (f.file === file) f.sha256 = sha256(b);
      writeFileSync(join(d, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
    }, /is not the manifest snapshot generate wrote for west_tp@.*its SHA-256 differs from the one recorded on west.*nothing was loaded/);

    const list = await steep(['snapshot', 'list', dir, '--json'], path);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([
      {
        id: `west_tp@${after.lsn}`,
        subscription: 'west_tp',
        slot: 'west_tp',
        complete: true,
        slotExists: true,
        filesPresent: true,
        status: 'generated',
      },
    ]);
    // its size is the files' on disk; its age is since generate began (this test's minutes)
    const listedDir = (JSON.parse(list.stdout) as Array<{ bytes: number; ageSeconds: number }>)[0]!;
    expect(listedDir.bytes).toBe(
      after.tables.flatMap((t) => t.files).reduce((n, f) => n + statSync(join(dir, f.file!)).size, 0),
    );
    expect(listedDir.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(listedDir.ageSeconds).toBeLessThan(600);

    await east.query(`INSERT INTO public.tp_seq (v) SELECT 'y' FROM generate_series(1, 10)`);
    // the split table's indexes are built after its files are loaded, exactly as they were
    await west.query('CREATE INDEX tp_big_v ON public.tp_big (v)');
    const indexesBefore = await indexesOf(west, 'tp_big');
    const applied = await steep(
      ['snapshot', 'apply', 'west_tp', '--input', dir, '--json', '--log-format', 'json'],
      path,
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ state: 'synchronized', sequences: 1 });
    // what it ran besides the loads, as the planner composes it: the lock of the table whose indexes it deferred
    expect(JSON.parse(applied.stdout).statements).toEqual([
      {
        node: 'west',
        sql: expect.stringMatching(
          /^-- when its copy starts, if public\.tp_big is empty .*\nLOCK TABLE "public"\."tp_big" IN ACCESS EXCLUSIVE MODE$/,
        ),
      },
    ]);
    const built = applied.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.event === 'init.indexes_built');
    expect(built.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /built the 2 indexes of public\.tp_big deferred during the copy \(tp_big_pkey, tp_big_v\)/,
      ),
    ]);
    expect(await indexesOf(west, 'tp_big')).toEqual(indexesBefore);
    expect(await west.query(`SELECT 1 FROM steep.deferred_indexes WHERE subscription = 'west_tp'`)).toEqual(
      [],
    );
    await writer.stop();
    await waitCaughtUp(east, 'west_tp');
    expect(await digests(west, [...NAMES, 'tp_seq'])).toEqual(await digests(east, [...NAMES, 'tp_seq']));
    const [applyRecord] = await recorded('west_tp');
    expect(applyRecord).toMatchObject({ status: 'applied', manifest_sha256: manifestSum });
    expect(applyRecord!.applied_at).toBeInstanceOf(Date);
    // the row filter and the column list, exactly as published (14 has neither: the whole table)
    if (east.serverVersionNum >= 150000) {
      const sums = `count(*)::text AS count, coalesce(sum(hashtextextended(id::text || v, 0)::numeric), 0)::text AS sum`;
      const [pub] = await east.query(`SELECT ${sums} FROM public.${FILTERED.name} WHERE id % 1000 < 300`);
      const [got] = await west.query(`SELECT ${sums}, max(n)::text AS n FROM public.${FILTERED.name}`);
      expect(Number((pub as { count: string }).count)).toBeGreaterThan(0);
      expect(Number((pub as { count: string }).count)).toBeLessThan(FILTERED.rows);
      expect(got).toEqual({ ...pub, n: '0' });
    } else {
      expect(await digests(west, [FILTERED.name])).toEqual(await digests(east, [FILTERED.name]));
    }
    const [seq] = await west.query<{ v: string }>(`SELECT last_value::text AS v FROM public.tp_seq_id_seq`);
    expect(Number(seq!.v)).toBeGreaterThanOrEqual(500);
    const plan = await steep(['plan', '--detailed-exitcode'], path);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    // the subscription streams from the slot: delete keeps it
    const del = await steep(['snapshot', 'delete', dir, '--allow-destroy', '--json'], path);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ slotDropped: false, recorded: true, statements: [] });
    expect((await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_tp'`)).length).toBe(
      1,
    );
    expect(await recorded('west_tp')).toMatchObject([
      { status: 'deleted', applied_at: applyRecord!.applied_at },
    ]);

    // a second two-phase subscription: the plan says a snapshot seeds one subscription; its
    // snapshot's files deleted, the slot kept, the state still lists it until its id drops the slot
    const both = config('west_tp', true);
    const planned = await steep(['plan'], both);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout + planned.stderr).toMatch(/a snapshot seeds exactly one subscription, on its slot/);
    const created2 = await steep(['apply', '--auto-approve'], both);
    expect(created2.code, created2.stderr).toBe(0);
    const dir2 = tempDir('steep-snap2-');
    const gen2 = await steep(['snapshot', 'generate', 'west_tp2', '--output', dir2, '--json'], both);
    expect(gen2.code, gen2.stderr).toBe(0);
    const lsn2 = (JSON.parse(gen2.stdout) as { lsn: string }).lsn;
    const del2 = await steep(['snapshot', 'delete', dir2, '--json'], both);
    expect(del2.code, del2.stderr).toBe(0);
    expect(JSON.parse(del2.stdout)).toMatchObject({
      id: `west_tp2@${lsn2}`,
      slotDropped: false,
      recorded: true,
    });
    expect(readdirSync(dir2)).toEqual([]);
    const known = await steep(['snapshot', 'list', '--json'], both);
    expect(known.code, known.stderr).toBe(0);
    const listed = JSON.parse(known.stdout) as Array<Record<string, unknown>>;
    expect(listed).toMatchObject([
      { id: `west_tp@${after.lsn}`, status: 'deleted', filesPresent: false, slotExists: true },
      {
        id: `west_tp2@${lsn2}`,
        status: 'deleted',
        filesPresent: false,
        slotExists: true,
        subscriber: 'west',
      },
    ]);
    expect(listed[0]!.appliedAt).not.toBeNull();
    expect(listed[1]!.retainedWalBytes).toEqual(expect.any(Number));
    const text = await steep(['snapshot', 'list'], both);
    expect(text.stdout).toMatch(
      new RegExp(
        `west_tp2@${lsn2.replace('/', '\\/')}\\s+files gone from \\S+.*deleted on west\\s+slot west_tp2 on east retains`,
      ),
    );
    const byId = await steep(['snapshot', 'delete', `west_tp2@${lsn2}`, '--allow-destroy', '--json'], both);
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({
      dir: null,
      filesRemoved: 0,
      slotDropped: true,
      statements: [{ node: 'east', sql: "SELECT pg_catalog.pg_drop_replication_slot('west_tp2')" }],
    });
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_tp2'`)).toEqual([]);
    const unknown = await steep(['snapshot', 'delete', 'west_tp2@0/1', '--allow-destroy'], both);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no subscriber of steep\.yaml records snapshot west_tp2@0\/1/);

    // init cancel of a generated, unapplied snapshot's init drops its slot: the record says the
    // snapshot is cancelled, list shows the slot gone, and apply refuses the files
    const dir3 = tempDir('steep-snap3-');
    const gen3 = await steep(['snapshot', 'generate', 'west_tp2', '--output', dir3, '--json'], both);
    expect(gen3.code, gen3.stderr).toBe(0);
    const lsn3 = (JSON.parse(gen3.stdout) as { lsn: string }).lsn;
    const cancelled = await steep(['init', 'cancel', 'west_tp2'], both);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(
      new RegExp(
        `snapshot west_tp2@${lsn3.replace('/', '\\/')} recorded cancelled: it can no longer be applied`,
      ),
    );
    expect(await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_tp2'`)).toEqual([]);
    expect((await recorded('west_tp2')).map((x) => [x.snapshot_id, x.status]).sort()).toEqual([
      [`west_tp2@${lsn2}`, 'deleted'],
      [`west_tp2@${lsn3}`, 'cancelled'],
    ]);
    const afterCancel = JSON.parse((await steep(['snapshot', 'list', dir3, '--json'], both)).stdout) as Array<
      Record<string, unknown>
    >;
    expect(afterCancel.find((x) => x.id === `west_tp2@${lsn3}`)).toMatchObject({
      status: 'cancelled',
      slotExists: false,
      filesPresent: true,
    });
    const stale = await steep(['snapshot', 'apply', 'west_tp2', '--input', dir3], both);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/slot west_tp2 of the snapshot in .* no longer exists on east/);
  }, 300_000);

  /** `table` filled on east, and a two-phase subscription `sub` of it created: its config and an output directory. */
  async function oneTableSetup(
    topology: string,
    sub: string,
    table: TableDef,
  ): Promise<{ path: string; dir: string }> {
    const east = cluster().node('east');
    await createTables([east, cluster().node('west')], [table]);
    await fillTables(east, [table]);
    const path = oneTableConfig(topology, sub, table.name);
    const created = await steep(['apply', '--auto-approve'], path);
    expect(created.code, created.stderr).toBe(0);
    return { path, dir: tempDir(`steep-snap-${sub}-`) };
  }

  /** The one file in `dir` is what its manifest says, and applied with a writer running, both sides end equal. */
  async function expectFileApplied(dir: string, path: string, sub: string, table: string): Promise<void> {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      tables: Array<{ files: Array<{ file: string; sha256: string; bytes: number }> }>;
    };
    const file = m.tables[0]!.files[0]!;
    const bytes = readFileSync(join(dir, file.file));
    expect(bytes.length).toBe(file.bytes);
    expect(sha256(bytes)).toBe(file.sha256);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
    const writer = startWriter(east, [table]);
    const applied = await steep(['snapshot', 'apply', sub, '--input', dir], path);
    expect(applied.code, applied.stderr).toBe(0);
    await writer.stop();
    await waitCaughtUp(east, sub);
    expect(await digests(west, [table])).toEqual(await digests(east, [table]));
  }

  it('existingData: truncate: snapshot apply empties the rows the table holds with the TRUNCATE it reports, and both sides end equal', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const table = { name: 'tp_trunc', rows: 2_000 };
    await createTables([east, west], [table]);
    await fillTables(east, [table]);
    await west.query(`INSERT INTO public.tp_trunc (id, v) VALUES (-1, 'stray'), (1, 'other')`);
    const path = oneTableConfig(
      'tp-trunc',
      'west_trunc',
      table.name,
      '{ method: two-phase, existingData: truncate }',
    );
    const created = await steep(['apply', '--auto-approve'], path);
    expect(created.code, created.stderr).toBe(0);
    const dir = tempDir('steep-snap-trunc-');
    const generated = await steep(['snapshot', 'generate', 'west_trunc', '--output', dir], path);
    expect(generated.code, generated.stderr).toBe(0);
    // disabled, its init unfinished: steep apply does not enable it (snapshot apply does), so
    // reinit's refusal names what finishes the init, never "enable it (steep apply)"
    const early = await steep(
      ['reinit', 'west_trunc', '--tables', 'public.tp_trunc', '--auto-approve'],
      path,
    );
    expect(early.code, early.stdout + early.stderr).toBe(1);
    expect(early.stderr).not.toContain('enable it (steep apply)');
    expect(early.stderr).not.toContain('switchover');
    expect(early.stderr).toContain('steep snapshot apply west_trunc');
    const waiting = await steep(['apply', '--auto-approve'], path);
    expect(waiting.code, waiting.stdout + waiting.stderr).toBe(0);
    const [enabled] = await west.query<{ on: boolean }>(
      "SELECT subenabled AS on FROM pg_subscription WHERE subname = 'west_trunc'",
    );
    expect(enabled?.on).toBe(false);
    // the switchover's refusal of it names the same way out, never steep apply
    const switching = await steep(['switchover', 'west_trunc', '--dry-run', '--lag-timeout', '1s'], path);
    expect(switching.code, switching.stdout + switching.stderr).toBe(1);
    expect(switching.stdout + switching.stderr).not.toContain('enable it (steep apply)');
    expect(switching.stdout + switching.stderr).toContain(
      'subscription west_trunc on west is disabled and its two-phase init is preparing, not finished: steep apply does not enable it before its init does; steep snapshot apply west_trunc --input DIR',
    );
    const writer = startWriter(east, [table.name]);
    const applied = await steep(['snapshot', 'apply', 'west_trunc', '--input', dir], path);
    await writer.stop();
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Ran on west:\n  TRUNCATE TABLE "public"."tp_trunc";');
    await waitCaughtUp(east, 'west_trunc');
    expect(await digests(west, [table.name])).toEqual(await digests(east, [table.name]));
    const again = await steep(['plan', '--detailed-exitcode'], path);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 120_000);

  it('a file it cannot write: the chunk is retried, generate gives up naming the error, and the rerun finishes it', async () => {
    // ~4 MB: the file writer thread is handed several 1 MB blocks after its file failed to open
    const table = { name: 'tp_unwritable', rows: 60_000 };
    const { path, dir } = await oneTableSetup('two-phase-unwritable', 'west_tpu', table);
    // a directory where the table's file is written: opening it for writing fails (EISDIR)
    const blocked = join(dir, `public.${table.name}.0.copy.partial`);
    mkdirSync(blocked);
    const failed = await steep(['snapshot', 'generate', 'west_tpu', '--output', dir], path);
    expect(failed.code, failed.stdout + failed.stderr).toBe(1);
    expect(failed.stderr).toContain(`copy of public.${table.name} failed after 3 attempts: EISDIR`);
    rmSync(blocked, { recursive: true });
    // the snapshot is still held: the rerun copies the file at the same point
    const rerun = await steep(['snapshot', 'generate', 'west_tpu', '--output', dir, '--json'], path);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ resumed: true, kept: 0, files: 1, rows: table.rows });
    await expectFileApplied(dir, path, 'west_tpu', table.name);
  }, 120_000);

  it('schema.sql creates the subscribed tables as the publisher has them, and the manifest holds its SHA-256', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    // an enum type and a serial's sequence, which schema.sql creates first; `public`, which exists
    const ddl = `CREATE TYPE public.tp_mood AS ENUM ('sad', 'ok', 'happy');
      CREATE TABLE public.tp_schema (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code varchar(20) NOT NULL DEFAULT 'x',
      amount numeric(10,2), at timestamptz NOT NULL DEFAULT now(), tags text[],
      mood public.tp_mood, moods public.tp_mood[], n serial, UNIQUE (code, at))`;
    for (const node of [east, west]) await node.query(ddl);
    await east.query(
      "INSERT INTO public.tp_schema (code, amount, tags, mood) VALUES ('a', 1.5, '{x,y}', 'ok'), ('b', null, null, null)",
    );
    const path = oneTableConfig('two-phase-schema', 'west_tps', 'tp_schema');
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(0);
    const dir = tempDir('steep-snap-west_tps-');
    const generated = await steep(['snapshot', 'generate', 'west_tps', '--output', dir], path);
    expect(generated.code, generated.stderr).toBe(0);
    const schema = readFileSync(join(dir, 'schema.sql'), 'utf8');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      schemaFile: { sha256: string };
    };
    expect(sha256(schema)).toBe(m.schemaFile.sha256);
    // run in an empty database, it makes the table the publisher has
    await west.query('DROP DATABASE IF EXISTS tp_schema_sql');
    await west.query('CREATE DATABASE tp_schema_sql');
    const fresh = new pg.Client({ ...west.connection, database: 'tp_schema_sql' });
    await fresh.connect();
    try {
      await fresh.query(schema);
      const columns = `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity,
             pg_get_expr(d.adbin, d.adrelid) AS default
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = 'public.tp_schema'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;
      expect((await fresh.query(columns)).rows).toEqual(await east.query(columns));
      const owner = `SELECT pg_get_serial_sequence('public.tp_schema', 'n') AS seq,
             (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'public.tp_mood'::regtype) AS labels`;
      expect((await fresh.query(owner)).rows).toEqual(await east.query(owner));
    } finally {
      await fresh.end();
      await west.query('DROP DATABASE tp_schema_sql');
    }
  }, 120_000);

  it('a generate that fails after creating its slot and before writing a manifest drops the slot', async () => {
    const east = cluster().node('east');
    const table = { name: 'tp_unpublished', rows: 100 };
    const { path, dir } = await oneTableSetup('two-phase-unpublished', 'west_tpn', table);
    // the publication publishes nothing by the time generate reads it at the snapshot
    await east.query(`ALTER PUBLICATION west_tpn_pub DROP TABLE public.${table.name}`);
    const slots = () =>
      east.query<{ slot_name: string }>(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'west_tpn'",
      );
    for (const attempt of [1, 2]) {
      const failed = await steep(['snapshot', 'generate', 'west_tpn', '--output', dir], path);
      expect(failed.code, `attempt ${attempt}: ${failed.stdout}${failed.stderr}`).toBe(1);
      expect(failed.stderr).toContain('publications west_tpn_pub of west_tpn publish no table on east');
      // no slot left retaining WAL, which no steep command would list or delete without a manifest
      expect(await slots(), `attempt ${attempt}`).toEqual([]);
    }
    // a slot of that name no snapshot lists: generate says how to drop it
    await east.query("SELECT pg_create_logical_replication_slot('west_tpn', 'pgoutput')");
    const taken = await steep(['snapshot', 'generate', 'west_tpn', '--output', dir], path);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(
      /slot west_tpn already exists on east: .*SELECT pg_catalog\.pg_drop_replication_slot\('west_tpn'\) on east/,
    );
    await east.query("SELECT pg_drop_replication_slot('west_tpn')");
  }, 120_000);

  it('a generate interrupted while its slot is made (waiting for a transaction on the publisher): Ctrl-C cancels it; after a SIGKILL the rerun drops that slot and starts anew', async () => {
    const east = cluster().node('east');
    const table = { name: 'tp_interrupted', rows: 2_000 };
    const { path, dir } = await oneTableSetup('two-phase-interrupted', 'west_tpi', table);
    const slot = () =>
      east.query<{ confirmed: string; active: boolean }>(
        "SELECT confirmed_flush_lsn::text AS confirmed, active FROM pg_replication_slots WHERE slot_name = 'west_tpi'",
      );
    // a transaction with an xid: the slot is consistent, and made, only once it ends
    const blocker = await east.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_current_xact_id()');
    /** generate, sent `signal` once its slot is being made: how it ended */
    const signalledWhileMade = async (signal: NodeJS.Signals) => {
      const generating = startSteep(['snapshot', 'generate', 'west_tpi', '--output', dir, '-c', path], env());
      await eventually(async () => (await slot()).length > 0, HANG_MS, 'slot west_tpi being made');
      generating.child.kill(signal);
      return generating.exited;
    };
    // Ctrl-C while generate waits for it: the wait is cancelled, no slot made
    const ctrlC = await signalledWhileMade('SIGINT');
    expect(ctrlC.code, ctrlC.stderr).toBe(130);
    expect(ctrlC.stderr).toContain(
      'snapshot generate of west_tpi stopped while slot west_tpi waited for the transactions open on east to end: no slot was made, nothing was changed',
    );
    expect(await slot()).toEqual([]);
    // SIGKILL, which nothing can catch: the holder goes on making the slot
    expect((await signalledWhileMade('SIGKILL')).signal).toBe('SIGKILL');
    // run again while the slot is still being made: it says by whom
    const early = await steep(['snapshot', 'generate', 'west_tpi', '--output', dir], path);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /slot west_tpi is being made on east by a snapshot holder \(process \d+ there\), which waits for the transactions running on east to end/,
    );
    await blocker.query('COMMIT');
    await blocker.end();
    // the holder makes the slot once the transaction ended, steep gone: no manifest names it
    let left: Array<{ confirmed: string; active: boolean }> = [];
    for (const deadline = Date.now() + HANG_MS; Date.now() < deadline; ) {
      left = await slot();
      if (left[0]?.confirmed) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(left[0]?.confirmed).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(readdirSync(dir)).not.toContain('manifest.json');

    const listed = await steep(['snapshot', 'list', dir, '--json'], path);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ dir: string }>).filter((s) => s.dir === dir)).toMatchObject([
      { id: `west_tpi@${left[0]!.confirmed}`, dir, interrupted: true, slotExists: true, complete: false },
    ]);
    // while a generate touches the file, it is under way: not for delete to drop its slot
    const touching = new Heartbeat(join(dir, '.steep-snapshot.hold'));
    const busy = await steep(['snapshot', 'delete', dir, '--allow-destroy'], path);
    touching.stop(false);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(
      `a snapshot generate into ${dir} is under way (it made slot west_tpi on east`,
    );
    expect((await slot()).length).toBe(1);
    // delete without --allow-destroy keeps the slot and what names it
    const kept = await steep(['snapshot', 'delete', dir], path);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(
      `slot west_tpi on east is kept (it retains WAL until dropped); steep snapshot delete ${dir} --allow-destroy drops it`,
    );
    expect((await slot()).length).toBe(1);

    const rerun = await steep(['snapshot', 'generate', 'west_tpi', '--output', dir], path);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(
      `note: dropped slot west_tpi on east (at ${left[0]!.confirmed}: SELECT pg_catalog.pg_drop_replication_slot('west_tpi')), made by a generate into ${dir} interrupted before its manifest`,
    );
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { lsn: string };
    expect(m.lsn).not.toBe(left[0]!.confirmed);
    expect((await slot()).map((r) => r.confirmed)).toEqual([m.lsn]);
    // no holder left holding a snapshot, the interrupted run's nor the rerun's
    for (const deadline = Date.now() + HANG_MS; Date.now() < deadline; ) {
      const [h] = await east.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'steep snapshot holder'",
      );
      if (h!.n === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(
      await east.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'steep snapshot holder'"),
    ).toEqual([]);
    await expectFileApplied(dir, path, 'west_tpi', table.name);
  }, 120_000);

  it('a snapshot holder lets go once its heartbeat file is made anew at its path (by the rerun that dropped its slot)', async () => {
    const east = cluster().node('east');
    const dir = tempDir('steep-snap-holder-');
    const heartbeatFile = join(dir, '.steep-snapshot.hold');
    const held = await startHolder({
      node: 'east',
      connection: east.connection,
      serverVersion: east.serverVersionNum,
      slot: 'tp_holder_anew',
      heartbeatFile,
    });
    const holders = () =>
      east.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'steep snapshot holder'");
    try {
      // the file names the slot it made
      expect(JSON.parse(readFileSync(heartbeatFile, 'utf8'))).toEqual({
        slot: 'tp_holder_anew',
        node: 'east',
        lsn: held.lsn,
      });
      expect(await holders()).toHaveLength(1);
      // another file at its path, touched as a rerun's heartbeat touches it
      held.heartbeat.stop(true);
      const next = new Heartbeat(heartbeatFile);
      try {
        for (const deadline = Date.now() + HANG_MS; Date.now() < deadline && (await holders()).length > 0; )
          await new Promise((res) => setTimeout(res, 100));
        expect(await holders()).toEqual([]);
      } finally {
        next.stop(true);
      }
    } finally {
      held.heartbeat.stop(true);
      await east.query("SELECT pg_drop_replication_slot('tp_holder_anew')");
    }
  }, 120_000);

  it("a publisher session killed during generate's COPY: the chunk's file is written again, and what it holds is the table", async () => {
    const east = cluster().node('east');
    // ~30 MB, a few tenths of a second of COPY into the file writer's blocks
    const table = { name: 'tp_pubkill', rows: 500_000 };
    const { path, dir } = await oneTableSetup('two-phase-pubkill', 'west_tpk', table);
    const generating = steep(['snapshot', 'generate', 'west_tpk', '--output', dir, '--json'], path);
    // the session's COPY, while it runs: the rows it sent so far went into the file's blocks
    let killed = false;
    for (const deadline = Date.now() + HANG_MS; !killed && Date.now() < deadline; ) {
      const [r] = await east.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE query ILIKE 'COPY%tp_pubkill%TO STDOUT%' AND state = 'active' AND pid <> pg_backend_pid() LIMIT 1`,
      );
      killed = r?.ok === true;
      if (!killed) await new Promise((res) => setTimeout(res, 10));
    }
    expect(killed).toBe(true);
    const generated = await generating;
    expect(generated.code, generated.stderr).toBe(0);
    expect(JSON.parse(generated.stdout)).toMatchObject({ files: 1, rows: table.rows });
    await expectFileApplied(dir, path, 'west_tpk', table.name);
  }, 120_000);
});
