import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, startWriter, waitCaughtUp } from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Two-phase init on real nodes with a writer on the publisher: steep apply creates the
 * subscription disabled; snapshot generate (SIGKILLed midway, then resumed without rewriting
 * the files it finished) writes the files; a corrupted byte, a truncated file and another
 * subscription's manifest are refused with the subscriber untouched; snapshot apply loads it,
 * sets the sequence and follows to synchronized with both sides equal; list and delete.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const TABLES = [
  { name: 'tp_big', rows: 60_000 },
  { name: 'tp_small', rows: 2_000 },
];
const NAMES = TABLES.map((t) => t.name);

function env() {
  return passwordEnv(cluster().nodes);
}

const steep = steepWith({ env, timeoutMs: 180_000 });

function config(sub: string): string {
  const [east, west] = cluster().nodes;
  return writeConfig(
    [
      'version: 1',
      'topology: two-phase',
      nodesYaml([east!, west!]),
      'publications:',
      '  tp_pub:',
      '    node: east',
      `    tables: [${NAMES.map((n) => `public.${n}`).join(', ')}, public.tp_seq]`,
      'subscriptions:',
      `  ${sub}:`,
      '    node: west',
      '    from: east',
      '    publications: [tp_pub]',
      '    init: { method: two-phase, parallel: 2, splitAbove: 256kB }',
      '',
    ].join('\n'),
  );
}

describe('two-phase init through snapshot generate and apply', () => {
  it('generates (resuming after SIGKILL), refuses damaged or foreign snapshots, applies, and reaches synchronized', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
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
    const dir = mkdtempSync(join(tmpdir(), 'steep-snap-'));
    // generate, killed once a few files are written
    const killed = await new Promise<boolean>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          join(REPO_ROOT, 'bin/run.js'),
          'snapshot',
          'generate',
          'west_tp',
          '--output',
          dir,
          '--parallel',
          '1',
          '-c',
          path,
        ],
        { env: { ...process.env, NO_COLOR: '1', ...env() }, stdio: 'ignore' },
      );
      const poll = setInterval(() => {
        try {
          const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
            tables: Array<{ files: Array<{ sha256: string | null }> }>;
          };
          if (m.tables.flatMap((t) => t.files).filter((f) => f.sha256).length >= 2) {
            clearInterval(poll);
            child.kill('SIGKILL');
          }
        } catch {
          // not written yet
        }
      }, 20);
      child.on('error', reject);
      child.on('close', (_c, signal) => {
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
    const finished = before.tables.flatMap((t) => t.files).filter((f) => f.sha256);
    const resumed = await steep(['snapshot', 'generate', 'west_tp', '--output', dir, '--json'], path);
    expect(resumed.code, resumed.stderr).toBe(0);
    const g = JSON.parse(resumed.stdout) as { kept: number; files: number; resumed: boolean };
    expect(g.resumed).toBe(true);
    expect(g.kept).toBe(finished.length);
    expect(g.files).toBeGreaterThan(finished.length);
    const after = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as M;
    expect(after.lsn).toBe(before.lsn);
    expect(after.completedAt).not.toBeNull();
    const big = after.tables.find((t) => t.name === 'tp_big')!;
    expect(big.files.length).toBeGreaterThanOrEqual(2);

    // damaged copies are refused before anything is written
    const refuse = async (damage: (d: string) => void, pattern: RegExp) => {
      const copy = mkdtempSync(join(tmpdir(), 'steep-snap-bad-'));
      cpSync(dir, copy, { recursive: true });
      damage(copy);
      const r = await steep(['snapshot', 'apply', 'west_tp', '--input', copy], path);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect((await digests(west, NAMES)).tp_big!.count).toBe(0);
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

    const list = await steep(['snapshot', 'list', dir, '--json'], path);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([
      { subscription: 'west_tp', slot: 'west_tp', complete: true, slotExists: true },
    ]);

    await east.query(`INSERT INTO public.tp_seq (v) SELECT 'y' FROM generate_series(1, 10)`);
    const applied = await steep(['snapshot', 'apply', 'west_tp', '--input', dir, '--json'], path);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ state: 'synchronized', sequences: 1 });
    await writer.stop();
    await waitCaughtUp(east, 'west_tp');
    expect(await digests(west, [...NAMES, 'tp_seq'])).toEqual(await digests(east, [...NAMES, 'tp_seq']));
    const [seq] = await west.query<{ v: string }>(`SELECT last_value::text AS v FROM public.tp_seq_id_seq`);
    expect(Number(seq!.v)).toBeGreaterThanOrEqual(500);
    const plan = await steep(['plan', '--detailed-exitcode'], path);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    // the subscription streams from the slot: delete keeps it
    const del = await steep(['snapshot', 'delete', dir, '--allow-destroy', '--json'], path);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ slotDropped: false });
    expect((await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'west_tp'`)).length).toBe(
      1,
    );
  }, 240_000);
});
