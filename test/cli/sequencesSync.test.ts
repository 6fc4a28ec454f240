import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, WRITE_PAUSE_MS, waitCaughtUp } from '../support/replicationData.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep sequences sync` on a live pair (the first of testVersions(); STEEP_TEST_PG=14 for the
 * oldest catalog): a sequence owned by a column (bigserial), one only called by a default, a
 * standalone one and a descending one in the subscribed tables' schema are brought to the
 * publisher's values, one in another schema is left out; a subscriber sequence already ahead
 * is left alone unless --allow-backwards; --headroom adds in each sequence's direction; after
 * the sync an insert relying on the defaults on the subscriber does not collide with the
 * replicated rows; a sequence missing on the subscriber exits 1.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'sq_sub';
const TABLES = ['sq_owned', 'sq_def'];

interface Outcome {
  sequence: string;
  source: string | null;
  before: string | null;
  after: string | null;
  target: string | null;
  action: string;
  skip: string | null;
  reason: string | null;
}
interface Report {
  set: number;
  skipped: number;
  problems: number;
  headroom: string;
  sequences: Outcome[];
}

let path = '';

const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

async function sync(extra: string[] = [], code = 0): Promise<Report> {
  const r = await steep(['sequences', 'sync', SUB, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(code);
  return JSON.parse(r.stdout) as Report;
}

interface Lag {
  sequence: string;
  node: string;
  behind: string | null;
  absent: boolean;
}

async function lagging(config = path): Promise<{ code: number; lags: Lag[] }> {
  const r = await steep(['drift', '--sequences', '--json'], config);
  expect([0, 2], r.stderr).toContain(r.code);
  const report = JSON.parse(r.stdout) as { sequences: Lag[] };
  return { code: r.code, lags: [...report.sequences].sort((a, b) => a.sequence.localeCompare(b.sequence)) };
}

function outcome(r: Report, name: string): Outcome {
  const o = r.sequences.find((s) => s.sequence === name);
  expect(o, `${name} in ${JSON.stringify(r.sequences.map((s) => s.sequence))}`).toBeDefined();
  return o!;
}

async function last(node: TestNode, seq: string): Promise<string | null> {
  const [r] = await node.query<{ v: string | null }>(
    `SELECT CASE WHEN is_called THEN last_value::text END AS v FROM ${seq}`,
  );
  return r!.v;
}

describe('sequences sync', () => {
  it('brings owned, default-only and standalone sequences to the publisher, never backwards unless asked', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query('CREATE TABLE public.sq_owned (id bigserial PRIMARY KEY, v text)');
      await n.query('CREATE SEQUENCE public.sq_s_def');
      await n.query(
        `CREATE TABLE public.sq_def (id bigint PRIMARY KEY DEFAULT nextval('public.sq_s_def'), v text)`,
      );
      await n.query('CREATE SEQUENCE public.sq_alone START 100');
      await n.query('CREATE SEQUENCE public.sq_down INCREMENT -1 MINVALUE -1000000 MAXVALUE -1');
      await n.query('CREATE SCHEMA sq_other');
      await n.query('CREATE SEQUENCE sq_other.sq_elsewhere');
      await n.query('CREATE TABLE public.sq_more (id int PRIMARY KEY)');
    }
    await east.query(`INSERT INTO public.sq_owned (v) SELECT 'o' FROM generate_series(1, 300)`);
    await east.query(`INSERT INTO public.sq_def (v) SELECT 'd' FROM generate_series(1, 200)`);
    await east.query(`SELECT nextval('public.sq_alone') FROM generate_series(1, 5)`);
    await east.query(`SELECT nextval('public.sq_down') FROM generate_series(1, 3)`);
    await east.query(`SELECT nextval('sq_other.sq_elsewhere') FROM generate_series(1, 9)`);
    // the subscriber's standalone sequence is already ahead of the publisher's
    await west.query(`SELECT setval('public.sq_alone', 10000)`);
    const yaml = (settings: string[]) =>
      [
        'version: 1',
        'topology: sequences',
        ...settings,
        nodesYaml([east, west]),
        'publications:',
        '  sq_pub:',
        '    node: east',
        `    tables: [${TABLES.map((t) => `public.${t}`).join(', ')}]`,
        '  sq_pub2:',
        '    node: east',
        '    tables: [public.sq_more]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [sq_pub]',
        // a second subscription of the pair, in the same schema: its standalone sequences are
        // the first one's too, and drift lists each sequence of a node once
        '  sq_sub2:',
        '    node: west',
        '    from: east',
        '    publications: [sq_pub2]',
        '',
      ].join('\n');
    path = writeConfig(yaml([]));
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);

    // drift --sequences: every subscriber sequence behind the publisher's (the one ahead is not),
    // then only those further behind than settings.sequenceLag
    const before = await lagging();
    expect(before.code).toBe(2);
    expect(before.lags.map((l) => [l.node, l.sequence, l.behind])).toEqual([
      ['west', 'public.sq_down', '3'],
      ['west', 'public.sq_owned_id_seq', '300'],
      ['west', 'public.sq_s_def', '200'],
    ]);
    const tolerant = await lagging(writeConfig(yaml(['settings:', '  sequenceLag: 250'])));
    expect(tolerant.lags.map((l) => l.sequence)).toEqual(['public.sq_owned_id_seq']);

    // a first sync while the publisher keeps inserting through its defaults
    let writing = true;
    const writer = (async () => {
      const c = await east.client();
      try {
        while (writing) {
          await c.query(`INSERT INTO public.sq_owned (v) VALUES ('w')`);
          await c.query(`INSERT INTO public.sq_def (v) VALUES ('w')`);
          await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
        }
      } finally {
        await c.end();
      }
    })();
    const during = await sync();
    writing = false;
    await writer;
    expect(outcome(during, 'public.sq_owned_id_seq').action).toBe('set');
    expect(outcome(during, 'public.sq_s_def').action).toBe('set');
    // one more row each once the writer stopped: both sequences are past what that sync read
    // (the writer may have stopped before its next row of either)
    await east.query(`INSERT INTO public.sq_owned (v) VALUES ('after')`);
    await east.query(`INSERT INTO public.sq_def (v) VALUES ('after')`);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));

    // writes stopped: the exact values, as text
    const text = await steep(['sequences', 'sync', SUB]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/public\.sq_owned_id_seq\s+\d+ → \d+/);
    expect(text.stdout).toMatch(/public\.sq_alone\s+skipped: west is already past 104 \(at 10000\)/);
    expect(text.stdout).not.toContain('sq_elsewhere');
    for (const s of ['public.sq_owned_id_seq', 'public.sq_s_def', 'public.sq_down'])
      expect(await last(west, s), s).toBe(await last(east, s));
    expect(await last(west, 'public.sq_down')).toBe('-3');
    expect(await last(west, 'public.sq_alone')).toBe('10000');
    expect(await last(west, 'sq_other.sq_elsewhere')).toBeNull();

    expect(await lagging()).toEqual({ code: 0, lags: [] });

    const again = await sync();
    expect(again.set).toBe(0);
    expect(outcome(again, 'public.sq_alone')).toMatchObject({ action: 'skipped', skip: 'ahead' });
    expect(outcome(again, 'public.sq_owned_id_seq').action).toBe('unchanged');

    // inserts relying on the defaults on the subscriber do not collide with replicated rows
    const c = await west.client();
    try {
      await c.query('BEGIN');
      await c.query(`INSERT INTO public.sq_owned (v) SELECT 'west' FROM generate_series(1, 50)`);
      await c.query(`INSERT INTO public.sq_def (v) SELECT 'west' FROM generate_series(1, 50)`);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }

    // --allow-backwards moves the one ahead back, and only the one named
    const back = await sync(['--allow-backwards', '--sequences', 'sq_alone']);
    expect(back.sequences.map((s) => s.sequence)).toEqual(['public.sq_alone']);
    expect(outcome(back, 'public.sq_alone')).toMatchObject({ before: '10000', after: '104', action: 'set' });
    expect(await last(west, 'public.sq_alone')).toBe('104');

    // --headroom: in each sequence's direction
    const ownedOnEast = BigInt((await last(east, 'public.sq_owned_id_seq'))!);
    const room = await sync(['--headroom', '1000']);
    expect(room.headroom).toBe('1000');
    expect(outcome(room, 'public.sq_owned_id_seq').after).toBe((ownedOnEast + 1000n).toString());
    expect(outcome(room, 'public.sq_down').after).toBe('-1003');
    expect(await last(west, 'public.sq_down')).toBe('-1003');
    expect(outcome(await sync(), 'public.sq_down').skip).toBe('ahead');

    // a name that is not one of the subscription's sequences; one missing on the subscriber
    const unknown = await steep(['sequences', 'sync', SUB, '--sequences', 'sq_other.sq_elsewhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('sq_other.sq_elsewhere is not a sequence of the subscribed tables');
    await east.query('CREATE SEQUENCE public.sq_east_only');
    await east.query(`SELECT nextval('public.sq_east_only')`);
    const missing = await sync([], 1);
    expect(missing.problems).toBe(1);
    expect(outcome(missing, 'public.sq_east_only')).toMatchObject({ action: 'skipped', skip: 'absent' });
    const absent = await lagging();
    expect(absent.code).toBe(2);
    expect(absent.lags).toMatchObject([{ sequence: 'public.sq_east_only', absent: true, behind: null }]);

    await waitCaughtUp(east, SUB);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));
  }, 120_000);
});
