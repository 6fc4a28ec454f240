import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { idsMissing, tableDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A link created with `init: none` while both nodes take writes (issue 62): `none` says the
 * tables are already equal, and under writes they are not — every row committed on a node before
 * its slot existed would stay there. steep proves the claim before it starts the link: it
 * compares the tables, then again under write locks, and starts both subscriptions at the
 * positions read under the locks. Tables that differ stop the apply with hazard data-gap naming
 * them and `init.method: merge`, nothing created and no slot left; followed literally, under the
 * same writers, every acknowledged id of both nodes ends on both. (Equal tables start the link
 * with nothing copied: links.test.ts, `init none on two fresh nodes`.)
 */
const VERSION = testVersions().find((v) => v >= 16) ?? 18;
const cluster = useCluster({ nodes: ['eu', 'us'], version: VERSION });
const APP = { user: 'link_app', password: 'link-app-secret-1' };
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(table: string, init: string): string {
  return writeConfig(
    [
      'version: 1',
      'topology: link-none',
      nodesYaml(cluster().nodes),
      'links:',
      '  eu_us:',
      '    nodes: [eu, us]',
      `    tables: [${table}]`,
      `    init: ${init}`,
      '',
    ].join('\n'),
  );
}

describe(`a link created with init: none on PostgreSQL ${VERSION}`, () => {
  it('under writes on both nodes stops with data-gap, nothing made; merge, as advised, loses no acknowledged id', async () => {
    const eu = cluster().node('eu');
    const us = cluster().node('us');
    for (const n of [eu, us]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.ledger (id bigint PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.ledger TO ${APP.user}`);
      // the rows both already hold: the state `none` vouches for
      await n.query(`INSERT INTO public.ledger SELECT g, md5(g::text) FROM generate_series(1, 500) g`);
    }
    // odd ids on eu, even ids on us: never the same key
    let odd = 1_001;
    let even = 1_000;
    const writers = [
      startIdWriter(
        { eu },
        APP,
        'public.ledger',
        () => 'eu',
        () => (odd += 2),
      ),
      startIdWriter(
        { us },
        APP,
        'public.ledger',
        () => 'us',
        () => (even += 2),
      ),
    ];
    const acked = (node: 'eu' | 'us') => writers[node === 'eu' ? 0 : 1]!.acknowledged().get(node) ?? [];
    try {
      await eventually(
        async () => acked('eu').length > 30 && acked('us').length > 30,
        HANG_MS,
        'writes on both',
      );

      path = config('public.ledger', '{ method: none }');
      const refused = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes']);
      const said = `${refused.stdout}\n${refused.stderr}`;
      expect(refused.code, said).toBe(1);
      const failed = said.split('\n').find((l) => l.startsWith('failed: link.eu_us'));
      expect(failed, said).toMatch(/public\.ledger \(\d+ rows only on eu, \d+ only on us/);
      expect(failed).toMatch(/hazard data-gap\); nothing was created/);
      expect(failed).toContain(
        'declare init: { method: merge, strategy: "prefer:eu" } under links.eu_us in steep.yaml',
      );
      for (const n of [eu, us]) {
        expect(await n.query('SELECT subname FROM pg_subscription'), `no subscription on ${n.name}`).toEqual(
          [],
        );
        expect(
          await n.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'eu_us%'`),
          `no slot on ${n.name}`,
        ).toEqual([]);
      }

      // the way out, followed literally, with the writers still running
      path = config('public.ledger', '{ method: merge, strategy: "prefer:eu" }');
      const merged = await steep(['apply', '--auto-approve', '--allow-hazard', 'blocks-writes']);
      expect(merged.code, `${merged.stdout}\n${merged.stderr}`).toBe(0);
      await untilHealthy(steep);
      const before = { eu: acked('eu').length, us: acked('us').length };
      await eventually(
        async () => acked('eu').length > before.eu + 30 && acked('us').length > before.us + 30,
        HANG_MS,
        'writes on both after the link started',
      );
    } finally {
      for (const w of writers) await w.stop();
    }
    await waitCaughtUp(eu, 'eu_us_us_a172cedc');
    await waitCaughtUp(us, 'eu_us_eu_a172cedc');
    const ids = [...acked('eu'), ...acked('us')];
    expect(ids.length).toBeGreaterThan(120);
    const missing = {
      eu: await idsMissing(eu, 'public.ledger', ids),
      us: await idsMissing(us, 'public.ledger', ids),
    };
    console.log(
      `link none refused, merged as advised: acknowledged ${ids.length}, missing on eu ${missing.eu}, on us ${missing.us}`,
    );
    expect(missing).toEqual({ eu: 0, us: 0 });
    const onEu = await tableDigest(eu, 'ledger');
    expect(await tableDigest(us, 'ledger')).toEqual(onEu);
    expect(onEu.count).toBe(500 + ids.length);
    const check = await steep(['status', '--check']);
    expect(check.code, `${check.stdout}\n${check.stderr}`).toBe(0);
  });
});
