import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * `steep import` round trip on a hand-made topology holding every feature the server has
 * (schemas, column lists and row filters on 15+, via-root on partitions, generated columns on
 * 18 (a generated column on both sides, and a publication that publishes stored ones), quoted names, several publications per subscription, slot names that differ from the
 * subscription's, options off the server's default): import → the plan adopts only → apply →
 * rows written on the publisher arrive once, no table is copied again (the subscriber's
 * n_tup_ins grows by exactly the rows written) → the adopted subscriptions read synchronized.
 */

describe.each(testVersions())('steep import round trip on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const nodes = () => cluster().nodes as [TestNode, TestNode];
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');

  const steep = steepWith({ env: () => passwordEnv(nodes()) });

  const pg15 = version >= 15;
  const pg18 = version >= 18;

  /** Every table, on both nodes (the generated column too: gen_pub does not publish it, so the subscriber computes it). */
  async function createCatalog(): Promise<void> {
    for (const n of nodes()) {
      await n.query(`
        CREATE SCHEMA sales;
        CREATE SCHEMA "Odd Schema";
        CREATE TABLE sales.orders (id bigint PRIMARY KEY, region text NOT NULL, amount numeric NOT NULL, note text);
        CREATE TABLE sales.customers (id bigint PRIMARY KEY, name text NOT NULL);
        CREATE TABLE "Odd Schema"."Odd ""Table""" ("Id" bigint PRIMARY KEY, "v.x" text);
        CREATE TABLE public.events (id bigint NOT NULL, day date NOT NULL, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
        CREATE TABLE public.events_a PARTITION OF public.events FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
        CREATE TABLE public.events_b PARTITION OF public.events FOR VALUES FROM ('2030-01-01') TO ('2040-01-01');
        ${
          pg18
            ? 'CREATE TABLE public.gen (id bigint PRIMARY KEY, a int NOT NULL, b int GENERATED ALWAYS AS (a * 2) STORED);'
            : ''
        }`);
    }
    const e = east();
    await e.query(`
      INSERT INTO sales.orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'n' FROM generate_series(1, 200) g;
      INSERT INTO sales.customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
      INSERT INTO "Odd Schema"."Odd ""Table""" SELECT g, 'x' FROM generate_series(1, 30) g;
      INSERT INTO public.events SELECT g, DATE '2025-01-01' + (g % 2) * 3650 FROM generate_series(1, 40) g;
      ${pg18 ? 'INSERT INTO public.gen (id, a) SELECT g, g FROM generate_series(1, 20) g;' : ''}
      CREATE PUBLICATION "Orders Pub" FOR TABLE ${pg15 ? "sales.orders (id, region, amount) WHERE (region = 'eu')" : 'sales.orders'}, sales.customers WITH (publish = 'insert, update');
      CREATE PUBLICATION odd_pub FOR ${pg15 ? 'TABLES IN SCHEMA "Odd Schema"' : 'TABLE "Odd Schema"."Odd ""Table"""'};
      CREATE PUBLICATION events_pub FOR TABLE public.events WITH (publish_via_partition_root = true);
      ${pg18 ? 'CREATE PUBLICATION gen_pub FOR TABLE public.gen WITH (publish_generated_columns = none);' : ''}
      ${pg18 ? 'CREATE PUBLICATION ids_pub FOR TABLE sales.customers WITH (publish_generated_columns = stored, publish = insert);' : ''}
      CREATE PUBLICATION billing_pub FOR TABLE sales.customers;
      COMMENT ON PUBLICATION billing_pub IS 'managed by steep: topology=billing';
      COMMENT ON PUBLICATION events_pub IS 'events, hand-made in 2024';
    `);
    const conn = `host=127.0.0.1 port=${e.port} dbname=app user=postgres password=${e.password}`;
    const w = west();
    await w.query(
      `CREATE SUBSCRIPTION main_sub CONNECTION '${conn}' PUBLICATION "Orders Pub", events_pub WITH (slot_name = 'hand_slot_v2', binary = true)`,
    );
    await w.query(
      `CREATE SUBSCRIPTION odd_sub CONNECTION '${conn}' PUBLICATION odd_pub${pg18 ? ', gen_pub' : ''} WITH (streaming = ${version >= 16 ? 'off' : 'on'})`,
    );
    await eventually(
      async () =>
        (await w.query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0 &&
        (await w.query('SELECT 1 FROM pg_subscription_rel')).length > 0,
      120_000,
      'the hand-made subscriptions to be ready',
    );
  }

  /** Rows, and an order-independent checksum of the columns the subscriber receives. */
  async function side(n: TestNode, publisherFilter: boolean) {
    const eu = publisherFilter && pg15 ? "WHERE region = 'eu'" : '';
    const q = async (sql: string) => (await n.query<{ v: string }>(sql))[0]!.v;
    return {
      orders: await q(
        `SELECT count(*) || '/' || coalesce(sum(hashtext(id || region || amount)), 0) AS v FROM sales.orders ${eu}`,
      ),
      customers: await q(
        `SELECT count(*) || '/' || coalesce(sum(hashtext(t::text)), 0) AS v FROM sales.customers t`,
      ),
      odd: await q(
        `SELECT count(*) || '/' || coalesce(sum(hashtext(t::text)), 0) AS v FROM "Odd Schema"."Odd ""Table""" t`,
      ),
      events: await q(
        `SELECT count(*) || '/' || coalesce(sum(hashtext(t::text)), 0) AS v FROM public.events t`,
      ),
      gen: pg18
        ? await q(`SELECT count(*) || '/' || coalesce(sum(hashtext(t::text)), 0) AS v FROM public.gen t`)
        : '',
    };
  }

  async function inserted(n: TestNode): Promise<number> {
    const [r] = await n.query<{ v: string }>(
      `SELECT coalesce(sum(n_tup_ins), 0)::text AS v FROM pg_stat_user_tables WHERE schemaname <> 'steep'`,
    );
    return Number(r!.v);
  }

  test('import → plan adopts only → apply → new rows arrive once, nothing copied again → synchronized', async () => {
    const started = Date.now();
    await createCatalog();
    const nodesFile = writeConfig(['version: 1', 'topology: imported', nodesYaml(nodes()), ''].join('\n'));

    // stdout by default; --out never overwrites without --force
    const printed = await steep(['import', '-c', nodesFile]);
    expect(printed.code, printed.stderr).toBe(0);
    const out = join(dirname(nodesFile), 'steep.imported.yaml');
    const written = await steep(['import', '-c', nodesFile, '--out', out]);
    expect(written.code, written.stderr).toBe(0);
    expect(readFileSync(out, 'utf8').trimEnd()).toBe(printed.stdout.trimEnd());
    const again = await steep(['import', '-c', nodesFile, '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${out} exists; nothing was written — pass --force`);
    expect((await steep(['import', '-c', nodesFile, '--out', out, '--force'])).code).toBe(0);

    const yaml = printed.stdout;
    expect(yaml).toContain('url: postgres://postgres@127.0.0.1:'); // the nodes as written, ${env:…} kept
    expect(yaml).toContain(`password: $\{env:${passwordVar(east())}}`);
    expect(yaml).toMatch(/^ {2}"?Orders Pub"?:/m);
    if (!pg15) expect(yaml).toContain('- Odd Schema."Odd ""Table"""');
    expect(yaml).toContain('viaPartitionRoot: true');
    expect(yaml).toContain('slot: hand_slot_v2');
    expect(yaml).toContain('binary: true');
    expect(yaml).toMatch(/main_sub:\n(.*\n)*?\s+init:\n\s+method: none/);
    expect(yaml).toContain(
      'publication billing_pub on east is managed by steep topology billing: not imported',
    );
    expect(yaml).not.toMatch(/^\s+billing_pub:/m);
    if (pg15) {
      expect(yaml).toContain("where: (region = 'eu'::text)");
      expect(yaml).toMatch(/columns:\n\s+- amount\n\s+- id\n\s+- region/);
      expect(yaml).toContain('- Odd Schema');
    }
    if (pg18) expect(yaml).toContain('generatedColumns: stored');
    if (pg18) expect(yaml).not.toContain('generatedColumns: none');
    writeFileSync(out, yaml);

    const plan = await steep(['plan', '-c', out, '--json']);
    expect(plan.code, plan.stderr + plan.stdout).toBe(0);
    const p = JSON.parse(plan.stdout) as {
      summary: Record<string, number>;
      steps: Array<{
        address: string;
        action: string;
        changes: Array<{ path: string; before: unknown; after: unknown }>;
        hazards: string[];
      }>;
      errors: unknown[];
    };
    expect(p.errors).toEqual([]);
    const adopted = p.steps.filter((s) => s.action === 'adopt').map((s) => s.address);
    expect(adopted.sort()).toEqual(
      [
        'publication.Orders Pub',
        'publication.events_pub',
        'publication.odd_pub',
        ...(pg18 ? ['publication.gen_pub', 'publication.ids_pub'] : []),
        'subscription.main_sub',
        'subscription.odd_sub',
      ].sort(),
    );
    // adoption only: the marker (and steep's state schema), no ALTER of an attribute, no replace, no copy
    for (const s of p.steps) {
      expect(['adopt', 'create'], `${s.action} ${s.address}`).toContain(s.action);
      if (s.action === 'create') expect(s.address).toMatch(/^node\./);
      if (s.action === 'adopt') expect(s.changes.map((c) => c.path)).toEqual(['comment']);
      expect(s.hazards).toEqual([]);
    }
    const events = p.steps.find((s) => s.address === 'publication.events_pub')!;
    expect(events.changes[0]!.after).toBe('events, hand-made in 2024\nmanaged by steep: topology=imported');
    expect(p.summary).toMatchObject({ replace: 0, update: 0, delete: 0, init: 0, adopt: adopted.length });

    const before = await inserted(west());
    // what each subscribed table's sync recorded: a table synchronised again would change it
    const syncs = async () =>
      (
        await west().query<{ r: string }>(
          "SELECT srsubid::text || ' ' || srrelid::text || ' ' || srsubstate::text || ' ' || coalesce(srsublsn::text, '') AS r FROM pg_subscription_rel ORDER BY 1",
        )
      ).map((x) => x.r);
    const syncedBefore = await syncs();
    const apply = await steep(['apply', '-c', out, '--auto-approve']);
    expect(apply.code, apply.stderr + apply.stdout).toBe(0);
    const replan = await steep(['plan', '-c', out, '--detailed-exitcode']);
    expect(replan.code, replan.stdout).toBe(0);
    expect(
      (
        await east().query<{ c: string }>(
          `SELECT obj_description(oid, 'pg_publication') AS c FROM pg_publication WHERE pubname = 'events_pub'`,
        )
      )[0]!.c,
    ).toBe('events, hand-made in 2024\nmanaged by steep: topology=imported');

    // rows written on the publisher after adoption arrive once
    await east().query(`
      INSERT INTO sales.orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'n' FROM generate_series(201, 300) g;
      INSERT INTO sales.customers SELECT g, 'c' || g FROM generate_series(51, 60) g;
      INSERT INTO "Odd Schema"."Odd ""Table""" SELECT g, 'y' FROM generate_series(31, 45) g;
      INSERT INTO public.events SELECT g, DATE '2025-01-01' + (g % 2) * 3650 FROM generate_series(41, 60) g;
      ${pg18 ? 'INSERT INTO public.gen (id, a) SELECT g, g FROM generate_series(21, 25) g;' : ''}
    `);
    const written_ = (pg15 ? 50 : 100) + 10 + 15 + 20 + (pg18 ? 5 : 0);
    await waitCaughtUp(east(), 'hand_slot_v2');
    await waitCaughtUp(east(), 'odd_sub');
    // nothing copied again: no table was synchronised again, and (15+, where table statistics
    // are kept in shared memory) the subscriber inserted exactly the rows written. Before 15 the
    // statistics travel by UDP to a collector that may drop them under load: not a count to rely on
    expect(await syncs()).toEqual(syncedBefore);
    if (pg15) {
      await eventually(
        async () => (await inserted(west())) - before >= written_,
        HANG_MS,
        'the stats to count the rows',
      );
      // a moment for any stray copy's statistics to show up too (a fixed wait: that nothing more
      // shows up has no condition to wait for)
      await new Promise((r) => setTimeout(r, 1500));
      expect((await inserted(west())) - before).toBe(written_);
    }
    expect(await side(west(), false)).toEqual(await side(east(), true));
    console.log(
      `import round trip on PostgreSQL ${version}: ${written_} rows written; ${Date.now() - started} ms`,
    );

    const status = await steep(['status', '-c', out, '--json']);
    const subs = (JSON.parse(status.stdout) as { subscriptions: Array<{ name: string; state: string }> })
      .subscriptions;
    expect(
      subs.filter((s) => ['main_sub', 'odd_sub'].includes(s.name)).map((s) => [s.name, s.state]),
    ).toEqual([
      ['main_sub', 'synchronized'],
      ['odd_sub', 'synchronized'],
    ]);
    expect(existsSync(out)).toBe(true);
  });

  test('an insert-only table without replica identity under a publication of every operation: the import plans, applies, and rows keep arriving', async () => {
    for (const n of nodes()) await n.query('CREATE TABLE public.applog (id bigint NOT NULL, msg text)');
    await east().query(`INSERT INTO public.applog SELECT g, 'm' || g FROM generate_series(1, 100) g`);
    // publishes update and delete too (the default): PostgreSQL refuses those on the publisher, inserts flow
    await east().query('CREATE PUBLICATION applog_pub FOR TABLE public.applog');
    const e = east();
    const conn = `host=127.0.0.1 port=${e.port} dbname=app user=postgres password=${e.password}`;
    await west().query(`CREATE SUBSCRIPTION applog_sub CONNECTION '${conn}' PUBLICATION applog_pub`);
    const digest = async (n: TestNode) =>
      (
        await n.query<{ c: string; h: string }>(
          'SELECT count(*)::text AS c, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS h FROM public.applog t',
        )
      )[0];
    await eventually(
      async () => JSON.stringify(await digest(west())) === JSON.stringify(await digest(east())),
      HANG_MS,
      'applog copied',
    );
    const nodesFile = writeConfig(
      ['version: 1', 'topology: imported-log', nodesYaml(nodes()), ''].join('\n'),
    );
    const out = join(dirname(nodesFile), 'steep.imported.yaml');
    const imported = await steep(['import', '-c', nodesFile, '--out', out]);
    expect(imported.code, imported.stderr).toBe(0);
    const plan = await steep(['plan', '-c', out]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout + plan.stderr).toMatch(/public\.applog has no replica identity/);
    const applied = await steep(['apply', '-c', out, '--auto-approve']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await east().query(`INSERT INTO public.applog SELECT g, 'm' || g FROM generate_series(101, 150) g`);
    await waitCaughtUp(east(), 'applog_sub');
    expect(await digest(west())).toEqual(await digest(east()));
    expect((await digest(west()))!.c).toBe('150');
    const again = await steep(['plan', '-c', out, '--detailed-exitcode']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });
});
