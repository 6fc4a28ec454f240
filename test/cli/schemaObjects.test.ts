import { describe, expect, it } from 'vitest';
import { startAppWriter, startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A complete subscriber (docs/steep-yaml.md, "Indexes and constraints"): east publishes two
 * tables with a secondary index, a unique constraint, a check constraint and a foreign key
 * between them; west has none of them and is initialised by steep's own copy (snapshot, the
 * bigger table in key ranges, so its indexes are built after the copy) with schemaSync: auto
 * while an application writes. After the init west carries every index and constraint east has,
 * the rows are equal and no acknowledged id is lost. Then `steep switchover` to a west missing
 * the unique constraint is refused before it fences anything; once apply has put it back, the
 * switchover goes through.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_so';
const TABLES = ['so_parent', 'so_child'];
const APP = { user: 'so_app', password: 'so-app-secret-1' };

const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

/** The published tables' indexes and constraints on `node`, with their names, as PostgreSQL prints them. */
async function objectsOf(node: TestNode): Promise<string[]> {
  const rows = await node.query<{ d: string }>(
    `SELECT indexrelid::regclass::text || ': ' || pg_get_indexdef(indexrelid) AS d
       FROM pg_index WHERE indrelid IN ('public.so_parent'::regclass, 'public.so_child'::regclass)
     UNION ALL
     SELECT conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid)
       FROM pg_constraint WHERE conrelid IN ('public.so_parent'::regclass, 'public.so_child'::regclass)
        AND contype <> 'n'`,
  );
  return rows.map((r) => r.d).sort();
}

async function fenced(east: TestNode): Promise<string[]> {
  const settings = await east.query<{ c: string }>(
    `SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c LIKE 'default_transaction_read_only=%'`,
  );
  const triggers = await east.query<{ t: string }>(
    `SELECT tgname AS t FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('public.so_parent'::regclass, 'public.so_child'::regclass)`,
  );
  return [...settings.map((r) => r.c), ...triggers.map((r) => r.t)];
}

describe('schemaSync: auto carries indexes and constraints (18)', () => {
  it('a snapshot init under writes builds them all; a switchover to a node without one is refused', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
    await east.query(`CREATE TABLE public.so_parent (
      id bigserial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0,
      CONSTRAINT so_parent_v_key UNIQUE (v), CONSTRAINT so_parent_n_check CHECK (n >= 0))`);
    await east.query('CREATE INDEX so_parent_n_idx ON public.so_parent (n)');
    await east.query(`CREATE TABLE public.so_child (
      id bigserial PRIMARY KEY, parent_id bigint REFERENCES public.so_parent (id), v text NOT NULL,
      n int NOT NULL DEFAULT 0)`);
    await east.query(
      'CREATE INDEX so_child_parent_idx ON public.so_child (parent_id) WHERE parent_id IS NOT NULL',
    );
    // the application's own sequence: the switchover sets it on west
    for (const n of [east, west]) await n.query('CREATE SEQUENCE public.so_ticks');
    await east.query(
      'INSERT INTO public.so_parent (v, n) SELECT md5(g::text), g % 100 FROM generate_series(1, 40000) g',
    );
    await east.query(
      'INSERT INTO public.so_child (parent_id, v) SELECT 1 + g % 5000, md5(g::text) FROM generate_series(1, 8000) g',
    );
    await east.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON public.so_parent, public.so_child TO ${APP.user}`,
    );
    await east.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${APP.user}`);
    await east.query('ANALYZE');
    const path = writeConfig(
      [
        'version: 1',
        'topology: schema-objects',
        nodesYaml([east, west]),
        'publications:',
        '  so_pub:',
        '    node: east',
        '    tables: [public.so_parent, public.so_child]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [so_pub]',
        '    schemaSync: auto',
        '    init: { method: snapshot, splitAbove: 1MB }',
        '',
      ].join('\n'),
    );
    const expected = await objectsOf(east);

    const ids = startIdWriter({ east }, APP, 'public.so_parent', () => 'east');
    const app = startAppWriter(east, APP, { table: 'public.so_child', sequence: 'public.so_ticks' });
    try {
      await eventually(async () => app.committed() > 10, HANG_MS, 'the application to write');
      const plan = await steep(['plan'], path);
      expect(plan.code, `${plan.stdout}\n${plan.stderr}`).toBe(0);
      expect(plan.stdout).toContain(
        'ALTER TABLE ONLY "public"."so_parent" ADD CONSTRAINT "so_parent_v_key" UNIQUE (v)',
      );
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      const mark = app.committed();
      await eventually(async () => app.since(mark) > 10, HANG_MS, 'the application to write after the init');
    } finally {
      await ids.stop();
      await app.stop();
    }
    await waitCaughtUp(east, SUB);
    // every index and constraint of east, on west, by name and definition
    expect(await objectsOf(west)).toEqual(expected);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));
    const acked = ids.acknowledged().get('east') ?? [];
    expect(acked.length).toBeGreaterThan(10);
    const present = new Set(
      (await west.query<{ id: string }>('SELECT id::text FROM public.so_parent')).map((r) => Number(r.id)),
    );
    expect(acked.filter((id) => !present.has(id))).toEqual([]);

    // west without the unique constraint: refused before the fence, nothing changed on either node
    await west.query('ALTER TABLE public.so_parent DROP CONSTRAINT so_parent_v_key');
    const refused = await steep(['switchover', SUB], path);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stderr).toContain(
      'so_parent_v_key UNIQUE (v) of public.so_parent on east is missing on west',
    );
    expect(await fenced(east)).toEqual([]);
    const [enabled] = await west.query<{ e: boolean }>(
      'SELECT subenabled AS e FROM pg_subscription WHERE subname = $1',
      [SUB],
    );
    expect(enabled?.e).toBe(true);

    // the way out the refusal names: apply (schemaSync: auto) puts it back, then it goes through
    const again = await steep(['apply', '--auto-approve'], path);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(await objectsOf(west)).toEqual(expected);
    const done = await steep(['switchover', SUB, '--grace', '1s'], path);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));
  }, 180_000);
});
