import { describe, expect, test } from 'vitest';
import { withDatabaseTag } from '../../src/model/databaseTag.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep schema fingerprint` (with --save) and `steep drift` through the CLI on real
 * PostgreSQL 18 and 14: fingerprints of identical tables are equal across nodes; drift exits 0
 * when nothing differs, 2 for missing objects, out-of-band changes, schema differences and
 * tables changed since their saved fingerprint, 1 when a node cannot be read.
 */

describe.each(testVersions())('fingerprints and drift on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const nodes = () => cluster().nodes as [TestNode, TestNode];

  const steep = steepWith({ env: () => passwordEnv(nodes()) });

  function config(mode = 'auto'): string {
    return writeConfig(
      [
        'version: 1',
        'topology: drift-test',
        nodesYaml(nodes()),
        'publications:',
        '  drift_pub:',
        '    node: east',
        '    tables: [public.accounts, public.events]',
        'subscriptions:',
        '  drift_sub:',
        '    node: west',
        '    from: east',
        '    publications: [drift_pub]',
        `    schemaSync: ${mode}`,
        '',
      ].join('\n'),
    );
  }

  const DDL = `
    CREATE TABLE public.accounts (id bigserial PRIMARY KEY, name varchar(40) NOT NULL, balance numeric(12,2) DEFAULT 0);
    CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz DEFAULT now(), payload jsonb);
    CREATE TABLE "Odd Schema Name"."Odd ""Table""" ("Col A" int);
  `;

  test('identical tables have equal fingerprints on both nodes', async () => {
    for (const n of nodes()) await n.query(`CREATE SCHEMA "Odd Schema Name"; ${DDL}`);
    const path = config();
    const [a, b] = await Promise.all([
      steep(['schema', 'fingerprint', 'east', '--json'], path),
      steep(['schema', 'fingerprint', 'west', '--json'], path),
    ]);
    expect(a.code, a.stderr).toBe(0);
    const fa = JSON.parse(a.stdout) as {
      node: string;
      tables: Array<{ table: string; fingerprint: string; columns: number }>;
    };
    const fb = JSON.parse(b.stdout) as typeof fa;
    expect(fa.node).toBe('east');
    expect(fa.tables.map((t) => t.table)).toEqual([
      'Odd Schema Name.Odd "Table"',
      'public.accounts',
      'public.events',
    ]);
    expect(fa.tables).toEqual(fb.tables);
    expect(fa.tables[1]).toMatchObject({ columns: 3, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const text = await steep(['schema', 'fingerprint', 'east'], path);
    expect(text.stdout).toContain(`${fa.tables[1]!.fingerprint}    3 col  public.accounts`);
  });

  test('--save needs the state schema: until apply made it, nothing is saved, and the error says so', async () => {
    const r = await steep(['schema', 'fingerprint', 'east', '--save'], config());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('run `steep apply` first');
  });

  test('drift: missing objects before the first apply (exit 2), none after it (exit 0)', async () => {
    const path = config();
    const before = await steep(['drift'], path);
    expect(before.code, before.stdout).toBe(2);
    expect(before.stdout).toContain('create subscription.drift_sub');
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stderr).toBe(0);
    const after = await steep(['drift'], path);
    expect(after.code, `${after.stdout}\n${after.stderr}`).toBe(0);
    expect(after.stdout).toContain('No drift');
    // apply saved the subscribed tables' fingerprints on both nodes
    const [east, west] = nodes();
    for (const n of [east, west]) {
      const rows = await n.query<{ table_name: string; node_name: string }>(
        `SELECT table_name, node_name FROM steep.schema_fingerprints WHERE node_name = '${n.name}' ORDER BY 1`,
      );
      expect(rows.map((r) => r.table_name)).toEqual(['accounts', 'events']);
    }
  });

  test('drift: a column added on the publisher is a schema difference and a changed fingerprint (exit 2)', async () => {
    const path = config();
    const [east] = nodes();
    await east.query('ALTER TABLE public.events ADD COLUMN source text');
    const r = await steep(['drift', '--json'], path);
    expect(r.code, r.stdout).toBe(2);
    const report = JSON.parse(r.stdout) as {
      drifted: boolean;
      schema: Array<{ table: string; status: string; columns: Array<{ column: string; kind: string }> }>;
      fingerprints: Array<{
        node: string;
        table: string;
        change: string;
        savedColumns: number;
        currentColumns: number;
      }>;
      changes: Array<{ address: string }>;
    };
    expect(report.drifted).toBe(true);
    expect(report.schema).toEqual([
      expect.objectContaining({
        table: 'public.events',
        status: 'MISMATCH',
        columns: [expect.objectContaining({ column: 'source', kind: 'missing' })],
      }),
    ]);
    expect(report.fingerprints).toEqual([
      expect.objectContaining({
        node: 'east',
        table: 'public.events',
        change: 'changed',
        savedColumns: 3,
        currentColumns: 4,
      }),
    ]);
    expect(report.changes.map((c) => c.address)).toEqual(['table.west/public.events']);
    const md = await steep(['drift', '--format', 'markdown'], path);
    expect(md.code).toBe(2);
    expect(md.stdout).toContain('## steep drift');
    expect(md.stdout).toContain('| `public.events` |');
    // auto mode syncs it; apply saves the new fingerprints; no drift left
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(0);
    const after = await steep(['drift'], path);
    expect(after.code, after.stdout).toBe(0);
  });

  test('drift: in strict mode a schema difference is drift (exit 2), not an error', async () => {
    const [east] = nodes();
    await east.query('ALTER TABLE public.accounts ALTER COLUMN name TYPE varchar(80)');
    const r = await steep(['drift'], config('strict'));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
    expect(r.stdout).toContain('name: type character varying(80) on east, character varying(40) on west');
    await east.query('ALTER TABLE public.accounts ALTER COLUMN name TYPE varchar(40)');
  });

  test('drift: a table changed on its own since --save (exit 2), until saved again (exit 0)', async () => {
    const path = config();
    const [, west] = nodes();
    expect((await steep(['drift'], path)).code).toBe(0);
    expect((await steep(['schema', 'fingerprint', 'west', '--save'], path)).code).toBe(0);
    const saved = await west.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM steep.schema_fingerprints WHERE node_name = 'west' AND captured_at IS NOT NULL",
    );
    expect(saved[0]!.n).toBe(3);
    await west.query('ALTER TABLE "Odd Schema Name"."Odd ""Table""" ADD COLUMN b text');
    const r = await steep(['drift'], path);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout).toContain('west/Odd Schema Name.Odd "Table": fingerprint');
    expect((await steep(['schema', 'fingerprint', 'west', '--save'], path)).code).toBe(0);
    expect((await steep(['drift'], path)).code).toBe(0);
  });

  test('drift: an out-of-band change to a managed object (exit 2)', async () => {
    const path = config();
    const [east] = nodes();
    await east.query('ALTER PUBLICATION drift_pub DROP TABLE public.events');
    const r = await steep(['drift'], path);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout).toContain('Changed outside steep:');
    expect(r.stdout).toContain('publication.drift_pub tables');
    // drift_sub still lists public.events: putting it back copies nothing, so the changes made
    // while it was out are missing (a gap, docs/status.md) until it is copied again
    expect(r.stdout).toContain('Gap (changes never sent to a table):');
    const refused = await steep(['apply', '--auto-approve'], path);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stderr).toContain('--allow-hazard data-gap');
    const put = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap'], path);
    expect(put.code, `${put.stdout}\n${put.stderr}`).toBe(0);
    const gap = await steep(['drift'], path);
    expect(gap.code, gap.stdout).toBe(2);
    expect(gap.stdout).toContain('public.events');
    // the way out, as printed
    const way = /`(steep reinit [^`]+)`/.exec(gap.stdout)?.[1];
    expect(way, gap.stdout).toBe('steep reinit drift_sub --tables public.events');
    // without a terminal, the confirmation reinit asks for is --auto-approve
    const copied = await steep([...way!.replace(/^steep /, '').split(' '), '--auto-approve'], path);
    expect(copied.code, `${copied.stdout}\n${copied.stderr}`).toBe(0);
    expect((await steep(['drift'], path)).code).toBe(0);
  });

  test("drift: a slot of another database on the node's server is never offered for dropping; one of its own is", async () => {
    const path = config();
    const [east] = nodes();
    await east.query('CREATE DATABASE drift_other');
    const other = otherDatabase(east, 'drift_other');
    const OWN_LEFTOVER = withDatabaseTag('steep_reverse_drift_gone', 'app');
    try {
      // another topology's reverse slot, in another database of east's server, with no subscription using it
      await other.query("SELECT pg_create_logical_replication_slot('drift_other_reverse', 'pgoutput')");
      // and one steep named itself (its database's tag) in east's own database, left behind
      await east.query(`SELECT pg_create_logical_replication_slot('${OWN_LEFTOVER}', 'pgoutput')`);
      const r = await steep(['drift'], path);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stdout).toContain(`east/${OWN_LEFTOVER}`);
      expect(r.stdout).toContain(`pg_drop_replication_slot('${OWN_LEFTOVER}')`);
      expect(r.stdout).not.toContain('drift_other_reverse');
      const json = JSON.parse((await steep(['drift', '--json'], path)).stdout) as {
        orphanSlots: Array<{ slot: string }>;
      };
      expect(json.orphanSlots.map((o) => o.slot)).toEqual([OWN_LEFTOVER]);
      const plan = await steep(['plan'], path);
      expect(plan.stdout).not.toContain('drift_other_reverse');
      // status lists it as another database's, not as orphaned
      const status = JSON.parse((await steep(['status', '--json'], path)).stdout) as {
        slots: Array<{ name: string; kind: string; otherDatabase?: { database: string } }>;
      };
      expect(status.slots.find((x) => x.name === 'drift_other_reverse')).toMatchObject({
        kind: 'unknown',
        otherDatabase: { database: 'drift_other' },
      });
      expect(status.slots.find((x) => x.name === OWN_LEFTOVER)?.kind).toBe('orphan');
    } finally {
      await east.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('drift_other_reverse', '${OWN_LEFTOVER}')`,
      );
      await east.query('DROP DATABASE drift_other');
    }
    expect((await steep(['drift'], path)).code).toBe(0);
  });

  test('drift: a node that cannot be reached is an error (exit 1)', async () => {
    const [east, west] = nodes();
    const path = writeConfig(
      `version: 1\ntopology: drift-test\n${nodesYaml([east, west])}\n`.replace(`:${west.port}/`, ':1/'),
    );
    const r = await steep(['drift'], path);
    expect(r.code).toBe(1);
    // once, on stderr (docs/architecture.md, Output and errors)
    expect(r.stderr).toMatch(/^error: west: connection refused/m);
    expect(r.stdout).not.toContain('connection refused');
  });
});
