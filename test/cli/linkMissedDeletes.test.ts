import { describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { type IdWriter, idsGoOn, startIdWriter } from '../support/appWriter.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { startCluster, type TestNode } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * Issue 80 (the nightly harness's B: an acknowledged DELETE undone): one direction of a link
 * loses its slot while the application deletes, updates and inserts on both nodes; the way back
 * streams whole. The reinit status names reconciles the link's table in place, and a row only on
 * the node whose inbound stream broke is a delete it missed (the way back, proven whole, brought
 * everything that node wrote): it is deleted there, recorded in merge_log with its row, not
 * copied back. Each printed step is followed literally under an id-logging writer on both nodes;
 * afterwards no deleted row is on either node, no acknowledged id is missing, the table is equal.
 * Where the way back is not proven whole (here its verify window passed), a row only on that node
 * may be a write not yet brought back: it is copied back, as any one-sided row, and the reinit
 * says so before its confirmation. A link with no
 * known break keeps every row (links.test.ts, verify --repair).
 */

const TABLE = 'lk_items';
const SCHEMA = `CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`;

function file(eu: TestNode, us: TestNode, window: string | undefined): string {
  return writeConfig(
    [
      'version: 1',
      'topology: link-missed-deletes',
      ...(window ? ['settings:', `  verify: { window: ${window} }`] : []),
      'nodes:',
      ...[eu, us].flatMap((n) => [
        `  ${n.name}:`,
        `    url: postgres://postgres@127.0.0.1:${n.port}/app`,
        `    password: \${env:${passwordVar(n)}}`,
      ]),
      'links:',
      '  lk:',
      '    nodes: [eu, us]',
      `    tables: [public.${TABLE}]`,
      '    init: { method: merge, strategy: "prefer:eu" }',
      '',
    ].join('\n'),
  );
}

const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

async function ids(node: TestNode, where: string): Promise<number[]> {
  const rows = await node.query<{ id: string }>(
    `SELECT id::text FROM public.${TABLE} WHERE ${where} ORDER BY id`,
  );
  return rows.map((r) => Number(r.id));
}

async function slotOf(node: TestNode, sub: string): Promise<string> {
  const [r] = await node.query<{ s: string }>(
    'SELECT subslotname AS s FROM pg_subscription WHERE subname = $1',
    [sub],
  );
  return r!.s;
}

/** `window`: the verify window, short enough that the way back is unverified at the reinit */
const cases: Array<{ version: PgMajor; window?: string }> = [
  { version: 18 },
  { version: 16 },
  { version: 18, window: '2s' },
];

describe('a link direction whose slot was lost while the other node deleted', () => {
  it.each(cases)(
    '$version (window $window): the printed reinit deletes what the broken side missed only where the way back is synchronized; every acknowledged id kept, both equal',
    async ({ version, window }) => {
      // where the way back is synchronized, the rows eu deleted are deleted on us; where it is
      // not (its window passed), they are copied back to eu, as any one-sided row, and said so
      const deletes = window === undefined;
      const cluster = await startCluster({ nodes: ['eu', 'us'], version });
      const eu = cluster.node('eu');
      const us = cluster.node('us');
      const writers: IdWriter[] = [];
      try {
        try {
          for (const n of [eu, us]) await n.query(SCHEMA);
          await eu.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 300) g`);
          const config = { path: file(eu, us, window) };
          const steep = steepWith({
            config: () => config.path,
            env: () => passwordEnv([eu, us]),
            timeoutMs: 120_000,
          });
          const applied = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes']);
          expect(applied.code, out(applied)).toBe(0);
          const toUs = await slotOf(us, 'lk_us');
          await waitCaughtUp(eu, toUs);

          // us's inbound slot goes (dropped by hand while its subscription was paused by hand)
          await us.query('ALTER SUBSCRIPTION lk_us DISABLE');
          await eventually(
            async () =>
              (await eu.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [toUs]))
                .length === 0,
            HANG_MS,
            `slot ${toUs} released`,
          );
          await eu.query('SELECT pg_drop_replication_slot($1)', [toUs]);
          // acknowledged on eu while us cannot receive: deletes, updates, inserts; us writes too
          await eu.query(`DELETE FROM public.${TABLE} WHERE id BETWEEN 1 AND 20`);
          await eu.query(`UPDATE public.${TABLE} SET v = 'updated on eu' WHERE id BETWEEN 21 AND 30`);
          await eu.query(`INSERT INTO public.${TABLE} SELECT g, 'eu' FROM generate_series(301, 350) g`);
          await us.query(`INSERT INTO public.${TABLE} SELECT g, 'us' FROM generate_series(1001, 1020) g`);
          await us.query('ALTER SUBSCRIPTION lk_us ENABLE');
          // and an application on each node, every acknowledged id logged
          for (const [i, n] of [eu, us].entries()) {
            let next = 1_000_000 * (i + 1);
            writers.push(
              startIdWriter(
                { [n.name]: n },
                { user: 'postgres', password: n.password },
                `public.${TABLE}`,
                () => n.name,
                () => ++next,
              ),
            );
          }
          await Promise.all(writers.map((w, i) => idsGoOn(w, i === 0 ? 'eu' : 'us')));

          // the way out status names, followed literally
          let check = await steep(['status', '--check']);
          await eventually(
            async () => {
              check = await steep(['status', '--check']);
              return check.code === 2 && /steep reinit lk_us --full/.test(check.stdout);
            },
            HANG_MS,
            'status --check naming the reinit of lk_us',
          ).catch(() => {
            throw new Error(`status --check names no reinit of lk_us:\n${out(check)}`);
          });
          if (!deletes)
            await eventually(
              async () => /lk_eu\b.*unverified/.test((await steep(['status'])).stdout),
              HANG_MS,
              'lk_eu unverified past its window',
            );
          const reinit = await steep(['reinit', 'lk_us', '--full', '--auto-approve']);
          expect(reinit.code, out(reinit)).toBe(0);
          if (deletes)
            expect(reinit.stderr).toMatch(/public\.lk_items: .*20 deleted on us \(deletes it missed\)/);
          else {
            expect(reinit.stderr).toMatch(
              /reinit\.missed_deletes: .*lk_eu is unverified: what us wrote may not all be on eu, so rows only on us are copied to eu, deletes it missed with them \(each kept in merge_log on both nodes, strategy copied-back/,
            );
            expect(reinit.stderr).toMatch(/public\.lk_items: 20 rows copied to eu/);
          }
          await Promise.all(writers.map((w, i) => idsGoOn(w, i === 0 ? 'eu' : 'us')));
        } finally {
          await Promise.all(writers.map((w) => w.stop()));
        }
        await waitCaughtUp(eu, await slotOf(us, 'lk_us'));
        await waitCaughtUp(us, await slotOf(eu, 'lk_eu'));
        const all = writers.flatMap((w) => [...w.acknowledged().values()].flat());
        expect(all.length).toBeGreaterThan(40);
        for (const n of [eu, us]) {
          expect(await ids(n, 'id BETWEEN 1 AND 20'), `${n.name}: the rows eu deleted`).toHaveLength(
            deletes ? 0 : 20,
          );
          expect(await idsMissing(n, TABLE, all), `${n.name}: acknowledged ids missing`).toBe(0);
          const [u] = await n.query<{ c: number }>(
            `SELECT count(*)::int AS c FROM public.${TABLE} WHERE id BETWEEN 21 AND 30 AND v = 'updated on eu'`,
          );
          expect(u!.c, `${n.name}: eu's updates`).toBe(10);
          expect(await ids(n, 'id BETWEEN 301 AND 350 OR id BETWEEN 1001 AND 1020'), n.name).toHaveLength(70);
        }
        expect(await digests(us, [TABLE])).toEqual(await digests(eu, [TABLE]));
        // each deleted row kept in merge_log on both nodes, with the row deleted; copied back
        // instead, each kept there too (copied-back): the rows to delete again are found there
        for (const n of [eu, us]) {
          const logged = async (strategy: string) =>
            (
              await n.query<{ id: string }>(
                "SELECT row_b->>'id' AS id FROM steep.merge_log WHERE strategy = $1 AND row_b ? 'id' ORDER BY (row_b->>'id')::int",
                [strategy],
              )
            ).map((r) => Number(r.id));
          const eusDeletes = Array.from({ length: 20 }, (_, i) => i + 1);
          expect(await logged('missed-delete'), `${n.name}: merge_log`).toEqual(deletes ? eusDeletes : []);
          expect(await logged('copied-back'), `${n.name}: merge_log`).toEqual(deletes ? [] : eusDeletes);
        }
        console.log(
          `linkMissedDeletes ${version}${deletes ? '' : ' (way back unverified)'}: ${all.length} acknowledged ids, 0 missing; the 20 rows eu deleted ${deletes ? 'deleted on us' : 'copied back'}, both equal`,
        );
      } finally {
        await cluster.stop();
      }
    },
    300_000,
  );
});
