import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  startWriter,
  waitCaughtUp,
  writesGoOn,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Renames in place (issue 35): a subscription renamed in steep.yaml is one ALTER SUBSCRIPTION …
 * RENAME TO that keeps its slot, its origin and every change written meanwhile (a drop and a
 * create with `init: none` lost rows); a publication is renamed only while nothing reads it,
 * and the path steep names instead (new publication alongside, then the old one removed)
 * loses nothing either.
 */

interface PlanJson {
  steps: Array<{ address: string; action: string; kind: string; sql: string[] }>;
  errors: Array<{ code: string; message: string }>;
  warnings: Array<{ code: string; message: string }>;
}

describe.each(testVersions())('renames in place on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const nodes = () => cluster().nodes as [TestNode, TestNode];
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const steep = steepWith({ env: () => passwordEnv(nodes()) });

  async function planJson(config: string): Promise<PlanJson> {
    const r = await steep(['plan', '-c', config, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as PlanJson;
  }

  async function apply(config: string, extra: string[] = []): Promise<void> {
    const r = await steep(['apply', '-c', config, '--auto-approve', ...extra]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
  }

  /** Re-plan empty (and, unless told, drift green). */
  async function settled(config: string, drift = true): Promise<void> {
    // both only read the nodes: at once
    const [replan, d] = await Promise.all([
      steep(['plan', '-c', config, '--detailed-exitcode']),
      drift ? steep(['drift', '-c', config]) : null,
    ]);
    expect(replan.code, replan.stdout + replan.stderr).toBe(0);
    if (d) expect(d.code, d.stdout + d.stderr).toBe(0);
  }

  /** Writes on the publisher while `during` runs, then both sides equal (rows and checksum). */
  async function writesDuring(tables: string[], slot: string, during: () => Promise<void>): Promise<number> {
    const writer = startWriter(east(), tables);
    await writesGoOn(writer);
    await during();
    await writesGoOn(writer);
    const ops = await writer.stop();
    await waitCaughtUp(east(), slot);
    expect(await digests(west(), tables)).toEqual(await digests(east(), tables));
    return ops;
  }

  test('an imported subscription renamed in the file: one RENAME, no row lost under writes, re-plan empty, drift green', async () => {
    const tables = [{ name: 'imp_orders', rows: 500 }];
    await createTables(nodes(), tables);
    await fillTables(east(), tables);
    await east().query('CREATE PUBLICATION imp_pub FOR TABLE public.imp_orders');
    const conn = `host=127.0.0.1 port=${east().port} dbname=app user=postgres password=${east().password}`;
    await west().query(`CREATE SUBSCRIPTION imp_sub CONNECTION '${conn}' PUBLICATION imp_pub`);
    await eventually(
      async () =>
        (await west().query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0,
      HANG_MS,
      'imp_sub ready',
    );
    const nodesFile = writeConfig(['version: 1', 'topology: renames-a', nodesYaml(nodes()), ''].join('\n'));
    const imported = await steep(['import', '-c', nodesFile]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/imp_sub:\n(.*\n)*?\s+init:\n\s+method: none/);
    const config = join(dirname(nodesFile), 'steep.imported.yaml');
    writeFileSync(config, imported.stdout);
    await apply(config);

    // the reported bug: the subscription renamed in the file, nothing else
    writeFileSync(config, readFileSync(config, 'utf8').replace(/^( {2})imp_sub:/m, '$1imp_sub_v2:'));
    const p = await planJson(config);
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => [s.address, s.action, s.kind])).toEqual([
      ['subscription.imp_sub_v2', 'update', 'subscription-alter'],
    ]);
    expect(p.steps[0]!.sql[0]).toBe('ALTER SUBSCRIPTION "imp_sub" RENAME TO "imp_sub_v2"');

    const ops = await writesDuring(['imp_orders'], 'imp_sub', () => apply(config));
    expect(ops).toBeGreaterThan(50);
    const subs = await west().query<{ subname: string; subslotname: string }>(
      'SELECT subname, subslotname FROM pg_subscription ORDER BY subname',
    );
    expect(subs).toEqual([{ subname: 'imp_sub_v2', subslotname: 'imp_sub' }]);
    await settled(config);
    // its state moved with it
    const state = await west().query<{ subscription: string }>(
      `SELECT subscription FROM steep.subscription_state WHERE node_name = 'west' AND subscription LIKE 'imp_sub%'`,
    );
    expect(state.map((r) => r.subscription)).toEqual(['imp_sub_v2']);
    await west().query('DROP SUBSCRIPTION imp_sub_v2');
    await east().query('DROP PUBLICATION imp_pub');
  });

  /** A steep.yaml of its own topology (each test its own: an apply never touches another's objects). */
  function managedFile(topology: string, pubs: string[], subs: string[]): string {
    const subscriptions = subs.length > 0 ? ['subscriptions:', ...subs] : [];
    return [
      'version: 1',
      `topology: ${topology}`,
      nodesYaml(nodes()),
      'publications:',
      ...pubs,
      ...subscriptions,
      '',
    ].join('\n');
  }

  test('renamedFrom renames a managed subscription; the file may drop renamedFrom afterwards', async () => {
    const tables = [{ name: 'ex_orders', rows: 300 }];
    await createTables(nodes(), tables);
    await fillTables(east(), tables);
    const pub = ['  ex_pub:', '    node: east', '    tables: [public.ex_orders]'];
    const sub = (name: string, extra: string[] = []) => [
      `  ${name}:`,
      '    node: west',
      '    from: east',
      '    publications: [ex_pub]',
      ...extra,
    ];
    const config = writeConfig(managedFile('renames-b', pub, sub('ex_sub')));
    await apply(config);
    await waitCaughtUp(east(), 'ex_sub');

    writeFileSync(config, managedFile('renames-b', pub, sub('ex_sub_new', ['    renamedFrom: ex_sub'])));
    const p = await planJson(config);
    expect(p.steps.map((s) => [s.address, s.action])).toEqual([['subscription.ex_sub_new', 'update']]);
    await writesDuring(['ex_orders'], 'ex_sub', () => apply(config));
    await settled(config);
    writeFileSync(config, managedFile('renames-b', pub, sub('ex_sub_new')));
    await settled(config, false);
    const state = await west().query<{ subscription: string; state: string }>(
      `SELECT subscription, state FROM steep.subscription_state WHERE node_name = 'west' AND subscription LIKE 'ex_sub%'`,
    );
    expect(state).toEqual([{ subscription: 'ex_sub_new', state: 'synchronized' }]);
  });

  test('a publication nothing reads is renamed in place; one a subscription reads is refused, and the path steep names loses nothing', async () => {
    const tables = [{ name: 'pb_orders', rows: 300 }];
    await createTables(nodes(), tables);
    await fillTables(east(), tables);
    const pub = (name: string, extra: string[] = []) => [
      `  ${name}:`,
      '    node: east',
      '    tables: [public.pb_orders]',
      ...extra,
    ];
    const sub = (pubs: string) => [
      '  pb_sub:',
      '    node: west',
      '    from: east',
      `    publications: [${pubs}]`,
    ];

    // nothing reads it: renamed in place
    const lone = writeConfig(managedFile('renames-c1', pub('pb_lone'), []));
    await apply(lone);
    writeFileSync(lone, managedFile('renames-c1', pub('pb_lone_v2', ['    renamedFrom: pb_lone']), []));
    const p = await planJson(lone);
    expect(p.steps.map((s) => [s.address, s.action, s.sql[0]])).toEqual([
      ['publication.pb_lone_v2', 'update', 'ALTER PUBLICATION "pb_lone" RENAME TO "pb_lone_v2"'],
    ]);
    await apply(lone);
    await settled(lone, false);
    await east().query('DROP PUBLICATION pb_lone_v2');

    // read by a subscription: a plan error naming it and the safe path
    const config = writeConfig(managedFile('renames-c2', pub('pb_pub'), sub('pb_pub')));
    await apply(config);
    await waitCaughtUp(east(), 'pb_sub');
    writeFileSync(
      config,
      managedFile('renames-c2', pub('pb_pub_v2', ['    renamedFrom: pb_pub']), sub('pb_pub_v2')),
    );
    const refused = await steep(['plan', '-c', config]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      'publication pb_pub on east is read by subscription pb_sub on west, which would lose changes if it were renamed',
    );

    // the safe path: the new publication alongside, then the old one removed
    await writesDuring(['pb_orders'], 'pb_sub', async () => {
      writeFileSync(
        config,
        managedFile('renames-c2', [...pub('pb_pub'), ...pub('pb_pub_v2')], sub('pb_pub, pb_pub_v2')),
      );
      await apply(config);
      writeFileSync(config, managedFile('renames-c2', pub('pb_pub_v2'), sub('pb_pub_v2')));
      await apply(config, ['--allow-destroy']);
    });
    await settled(config);
    const pubs = await east().query<{ pubname: string }>(
      `SELECT pubname FROM pg_publication WHERE pubname LIKE 'pb_%'`,
    );
    expect(pubs.map((r) => r.pubname)).toEqual(['pb_pub_v2']);
  });

  test('a publication renamed without renamedFrom while the subscriber lags: the new one is read only once the subscriber is past its creation, no row lost', async () => {
    const tables = [{ name: 'lg_orders', rows: 300 }];
    await createTables(nodes(), tables);
    await fillTables(east(), tables);
    const pub = (name: string) => [`  ${name}:`, '    node: east', '    tables: [public.lg_orders]'];
    const sub = (name: string) => [
      '  lg_sub:',
      '    node: west',
      '    from: east',
      `    publications: [${name}]`,
    ];
    const config = writeConfig(managedFile('renames-d', pub('lg_pub'), sub('lg_pub')));
    await apply(config);
    await waitCaughtUp(east(), 'lg_sub');

    // the subscriber lags: its apply worker waits on a lock while east goes on writing
    const holder = await west().client();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.lg_orders IN ACCESS EXCLUSIVE MODE');
    const writer = startWriter(east(), ['lg_orders']);
    let released = false;
    try {
      await eventually(
        async () =>
          (
            await east().query<{ behind: boolean }>(
              "SELECT pg_current_wal_insert_lsn() - confirmed_flush_lsn > 100000 AS behind FROM pg_replication_slots WHERE slot_name = 'lg_sub'",
            )
          )[0]?.behind === true,
        HANG_MS,
        'lg_sub to fall behind',
      );
      writeFileSync(config, managedFile('renames-d', pub('lg_pub_v2'), sub('lg_pub_v2')));
      const applying = startSteep(
        ['apply', '-c', config, '--auto-approve', '--allow-destroy', '--log-format', 'json'],
        passwordEnv(nodes()),
      );
      // the new publication exists; the subscriber is still behind it for a while
      await eventually(
        async () =>
          (await east().query(`SELECT 1 FROM pg_publication WHERE pubname = 'lg_pub_v2'`)).length === 1,
        HANG_MS,
        'lg_pub_v2 created',
      );
      // a fixed wait: that steep leaves the list as it is meanwhile has no condition to wait for
      await new Promise((r) => setTimeout(r, 1000));
      const [listed] = await west().query<{ pubs: string[] }>(
        `SELECT subpublications AS pubs FROM pg_subscription WHERE subname = 'lg_sub'`,
      );
      expect(
        listed!.pubs,
        'the subscription reads the new publication only once it is past its creation',
      ).toEqual(['lg_pub']);
      await holder.query('ROLLBACK');
      released = true;
      const done = await applying.exited;
      expect(done.code, done.stderr).toBe(0);
      // writes after the switch to lg_pub_v2
      await writesGoOn(writer);
    } finally {
      if (!released) await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
      expect(await writer.stop()).toBeGreaterThan(50);
    }
    await waitCaughtUp(east(), 'lg_sub');
    expect(await digests(west(), ['lg_orders'])).toEqual(await digests(east(), ['lg_orders']));
    await settled(config);
  });
});
