import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { tableDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A `snapshot` link copies the first node's rows to the second, and its way back starts with
 * copy_data = false (issue 62): a row the second node commits before the way back's slot exists
 * never reaches the first. The plan sees the second node's tables empty; a transaction already
 * running there when apply makes that slot commits before the slot's consistent point, so its row
 * is not decoded. steep makes the way back's slot before the first copy starts and then reads the
 * second node's tables: a row there stops the apply naming the table and the way out (merge), the
 * slot dropped and no subscription created; followed literally, the row reaches both nodes.
 */
const VERSION = testVersions().find((v) => v >= 16) ?? 18;
const cluster = useCluster({ nodes: ['eu', 'us'], version: VERSION });
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(init: string): string {
  return writeConfig(
    [
      'version: 1',
      'topology: link-snapshot',
      nodesYaml(cluster().nodes),
      'links:',
      '  eu_us:',
      '    nodes: [eu, us]',
      '    tables: [public.ledger]',
      `    init: ${init}`,
      '',
    ].join('\n'),
  );
}

describe(`a snapshot link's way back on PostgreSQL ${VERSION}`, () => {
  it('a row the second node commits while the way back is made stops the apply; merge, as advised, brings it to both', async () => {
    const eu = cluster().node('eu');
    const us = cluster().node('us');
    for (const n of [eu, us])
      await n.query('CREATE TABLE public.ledger (id bigint PRIMARY KEY, v text NOT NULL)');
    await eu.query(`INSERT INTO public.ledger SELECT g, md5(g::text) FROM generate_series(1, 200) g`);
    path = config('{ method: snapshot }');

    // the application's transaction on us, open (with a transaction id) when apply starts
    const early = await us.client();
    try {
      await early.query('BEGIN');
      await early.query(`INSERT INTO public.ledger VALUES (900001, 'written on us early')`);
      const applying = steep(['apply', '--auto-approve']);
      // the way back's slot on us waits for that transaction before it is consistent
      await eventually(
        async () =>
          (
            await us.query(
              `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_create_logical_replication_slot%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
            )
          ).length === 1,
        HANG_MS,
        "the way back's slot waiting for the application's transaction",
      );
      await early.query('COMMIT');
      const applied = await applying;
      const said = `${applied.stdout}\n${applied.stderr}`;
      expect(applied.code, said).toBe(1);
      expect(said).toMatch(/public\.ledger on us holds rows committed before the way back of link eu_us/);
      expect(said).toContain(
        'declare init: { method: merge, strategy: "prefer:eu" } under links.eu_us in steep.yaml',
      );
      for (const n of [eu, us]) {
        expect(await n.query('SELECT subname FROM pg_subscription'), `no subscription on ${n.name}`).toEqual(
          [],
        );
        expect(
          await n.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'eu_us%'`),
        ).toEqual([]);
      }
    } finally {
      await early.end();
    }

    // the way out, followed literally
    path = config('{ method: merge, strategy: "prefer:eu" }');
    const merged = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes']);
    expect(merged.code, `${merged.stdout}\n${merged.stderr}`).toBe(0);
    await waitCaughtUp(eu, 'eu_us_us_a172cedc');
    await waitCaughtUp(us, 'eu_us_eu_a172cedc');
    await eventually(
      async () => (await eu.query('SELECT 1 FROM public.ledger WHERE id = 900001')).length === 1,
      HANG_MS,
      "us's early row on eu",
    );
    expect(await tableDigest(eu, 'ledger')).toEqual(await tableDigest(us, 'ledger'));
    expect(await eu.query('SELECT count(*)::int AS n FROM public.ledger')).toEqual([{ n: 201 }]);
    expect((await steep(['plan', '--detailed-exitcode'])).code).toBe(0);
  });
});
