import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Two databases on one pair of servers, each with its own topology using the same subscription
 * or link name (issue 65): slots are the server's, so the slots steep names itself carry their
 * database's tag — a switchover's way back (docs/switchover.md) and a link's subscriptions
 * (docs/links.md) — and the second database no longer finds the first one's slot in its way.
 * status names each slot's database where it is not the node's own.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_dn';
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

/** The database `db` of both servers, with table dn_t and its application role. */
async function prepare(db: string, role: string): Promise<{ east: TestNode; west: TestNode; path: string }> {
  const [east0, west0] = [cluster().node('east'), cluster().node('west')];
  if (db !== 'app') for (const n of [east0, west0]) await n.query(`CREATE DATABASE ${db}`);
  const east = db === 'app' ? east0 : otherDatabase(east0, db, 'east');
  const west = db === 'app' ? west0 : otherDatabase(west0, db, 'west');
  for (const n of [east, west]) {
    await n.query('CREATE TABLE public.dn_t (id bigint PRIMARY KEY, v text NOT NULL)');
    await n.query(`CREATE ROLE ${role} LOGIN PASSWORD '${role}-pw'`);
    await n.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON public.dn_t TO ${role}`);
  }
  await east.query(`INSERT INTO public.dn_t SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
  const path = writeConfig(
    [
      'version: 1',
      `topology: names-${db}`,
      // the databases `db` of the two servers (nodesYaml names database app)
      nodesYaml([east0, west0]).replaceAll('/app', `/${db}`),
      'publications:',
      '  dn_pub:',
      '    node: east',
      '    tables: [public.dn_t]',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [dn_pub]',
      // the subscription's own slot is the file's to name (one per server)
      `    slot: ${SUB}_${db}`,
      '',
    ].join('\n'),
  );
  const applied = await steep(['apply', '--auto-approve'], path);
  expect(applied.code, applied.stdout + applied.stderr).toBe(0);
  await waitCaughtUp(east, `${SUB}_${db}`);
  return { east, west, path };
}

describe('two databases of one server with the same subscription name', { timeout: 600_000 }, () => {
  it("switchover --reverse in both: each way back has its own slot, and status names the other database's", async () => {
    if (cluster().node('west').version < 16) return; // --reverse needs origin = none (16+)
    const a = await prepare('app', 'dn_app_a');
    const b = await prepare('dn_two', 'dn_app_b');
    for (const x of [a, b]) {
      const switched = await steep(['switchover', SUB, '--reverse', '--grace', '1s'], x.path);
      expect(switched.code, switched.stdout + switched.stderr).toBe(0);
    }
    // each way back carries the new primary's writes to its own old primary
    for (const [i, x] of [a, b].entries()) {
      await x.west.query(`INSERT INTO public.dn_t (id, v) VALUES (${1000 + i}, 'back')`);
      await eventually(
        async () => (await x.east.query(`SELECT 1 FROM public.dn_t WHERE id = ${1000 + i}`)).length === 1,
        HANG_MS,
        'a write on the new primary to arrive on the old one',
      );
      expect(await digests(x.east, ['dn_t'])).toEqual(await digests(x.west, ['dn_t']));
    }
    const slots = await a.west.query<{ slot_name: string; database: string }>(
      `SELECT slot_name, database::text AS database FROM pg_replication_slots WHERE slot_name LIKE 'steep_reverse_%' ORDER BY 2`,
    );
    expect(slots.map((s) => s.database)).toEqual(['app', 'dn_two']);
    expect(new Set(slots.map((s) => s.slot_name)).size).toBe(2);
    // status of the second database: the first one's way back is that database's, named so
    const status = await steep(['status', '--json'], b.path);
    const doc = JSON.parse(status.stdout) as {
      slots: Array<{
        node: string;
        name: string;
        kind: string;
        subscription: string | null;
        database?: string;
      }>;
    };
    const first = doc.slots.find((s) => s.node === 'west' && s.name === slots[0]!.slot_name)!;
    expect(first.database).toBe('app');
    const own = doc.slots.find((s) => s.node === 'west' && s.name === slots[1]!.slot_name)!;
    expect(own.database).toBe('dn_two');
    expect(own.subscription).toBe(`steep_reverse_${SUB}`);
    expect((await steep(['status'], b.path)).stdout).toMatch(
      new RegExp(`west/${slots[0]!.slot_name}\\s.*database app`),
    );
  });

  it('a link of the same name in both databases: each edge has its own slot, and rows flow both ways in each', async () => {
    if (cluster().node('west').version < 16) return; // links need origin = none (16+)
    const [east0, west0] = [cluster().node('east'), cluster().node('west')];
    const paths: string[] = [];
    const pairs: Array<{ east: TestNode; west: TestNode }> = [];
    for (const db of ['dn_la', 'dn_lb']) {
      for (const n of [east0, west0]) await n.query(`CREATE DATABASE ${db}`);
      const east = otherDatabase(east0, db, 'east');
      const west = otherDatabase(west0, db, 'west');
      for (const n of [east, west])
        await n.query('CREATE TABLE public.ln_t (id bigint PRIMARY KEY, v text NOT NULL)');
      await east.query(`INSERT INTO public.ln_t SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
      pairs.push({ east, west });
      paths.push(
        writeConfig(
          [
            'version: 1',
            `topology: link-${db}`,
            nodesYaml([east0, west0]).replaceAll('/app', `/${db}`),
            'links:',
            '  dn_link:',
            '    nodes: [east, west]',
            '    tables: [public.ln_t]',
            '    init: { method: snapshot }',
            '',
          ].join('\n'),
        ),
      );
    }
    for (const path of paths) {
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    }
    for (const [i, { east, west }] of pairs.entries()) {
      await east.query(`INSERT INTO public.ln_t VALUES (${1000 + i}, 'from east')`);
      await west.query(`INSERT INTO public.ln_t VALUES (${2000 + i}, 'from west')`);
      for (const n of [east, west])
        await eventually(
          async () =>
            (await n.query(`SELECT 1 FROM public.ln_t WHERE id IN (${1000 + i}, ${2000 + i})`)).length === 2,
          HANG_MS,
          `both writes of database ${i} on ${n.name}`,
        );
      expect(await digests(east, ['ln_t'])).toEqual(await digests(west, ['ln_t']));
      expect(await east.query('SELECT count(*)::int AS n FROM public.ln_t')).toEqual([{ n: 102 }]);
    }
    // four link slots, two per server, one per database each; no database sees another's rows
    const slots = await east0.query<{ slot_name: string; database: string }>(
      `SELECT slot_name, database::text AS database FROM pg_replication_slots WHERE slot_name LIKE 'dn_link_%' ORDER BY 2`,
    );
    expect(slots.map((s) => s.database)).toEqual(['dn_la', 'dn_lb']);
    expect(new Set(slots.map((s) => s.slot_name)).size).toBe(2);
    for (const path of paths) {
      const planned = await steep(['plan', '--detailed-exitcode'], path);
      expect(planned.code, planned.stdout + planned.stderr).toBe(0);
    }
  });
});
