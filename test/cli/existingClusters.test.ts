import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { REPO_ROOT, steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, type TestNode, useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Issue 12's observations on a hand-made setup, each first a failing CLI test on real
 * PostgreSQL: a replace over rows (1), a rename that would apply twice (2), tables joining an
 * init-none subscription (3), other tools' slots (6), messages naming commands that do not
 * exist (8), --target blocked by another subscription's error (9), the Markdown plan and
 * unmanaged owners (10); and adoption keeping a DBA's comment without counting as drift.
 */

/** The commands steep has: `src/commands/<topic>/<name>.ts` → `topic name`. */
function commands(): Set<string> {
  const root = join(REPO_ROOT, 'src/commands');
  const out = new Set<string>();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isFile()) out.add(entry.name.replace(/\.ts$/, ''));
    else
      for (const f of readdirSync(join(root, entry.name))) out.add(`${entry.name} ${f.replace(/\.ts$/, '')}`);
  }
  return out;
}

describe('existing clusters: adoption, double apply, data gaps, other tools', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: defaultVersion() });
  const nodes = () => cluster().nodes as [TestNode, TestNode];
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const known = commands();

  const steep = steepWith({
    env: () => passwordEnv(nodes()),
    // every command a message tells the user to run exists (`run steep X …`, `` `steep X` ``)
    check: (r) => {
      const all = r.stdout + r.stderr;
      for (const m of all.matchAll(/(?:run |`)steep ([a-z]+)(?: ([a-z]+))?/g)) {
        const one = m[1]!;
        const two = m[2] ? `${one} ${m[2]}` : '';
        expect(known.has(one) || known.has(two), `output names \`steep ${two || one}\`:\n${all}`).toBe(true);
      }
    },
  });

  function file(body: string[]): string {
    return writeConfig(['version: 1', 'topology: shop', nodesYaml(nodes()), ...body, ''].join('\n'));
  }

  const pub = ['publications:', '  hand_pub:', '    node: east', '    tables: [public.orders]'];

  beforeAll(async () => {
    for (const n of nodes()) {
      await n.query(`
        CREATE TABLE public.orders (id bigint PRIMARY KEY, v text);
        -- never analysed until the test says so (its --max-copy case needs an unknown size)
        CREATE TABLE public.items (id bigint PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        CREATE TABLE public.notes (id bigint PRIMARY KEY, v text);`);
    }
    const e = east();
    await e.query(`
      INSERT INTO public.orders SELECT g, 'o' FROM generate_series(1, 100) g;
      INSERT INTO public.items SELECT g, 'i' FROM generate_series(1, 100) g;
      INSERT INTO public.notes SELECT g, 'n' FROM generate_series(1, 100) g;
      CREATE PUBLICATION hand_pub FOR TABLE public.orders;
      COMMENT ON PUBLICATION hand_pub IS 'orders for the EU shop (DBA-12)';
      CREATE PUBLICATION billing_pub FOR TABLE public.notes;
      COMMENT ON PUBLICATION billing_pub IS 'managed by steep: topology=billing';`);
    // another tool's slot, and a leftover one
    await e.query(`SELECT pg_create_logical_replication_slot('debezium_orders', 'pgoutput')`);
    await e.query(`SELECT pg_create_logical_replication_slot('old_tmp_slot', 'pgoutput')`);
    await west().query(
      `CREATE SUBSCRIPTION hand_sub CONNECTION 'host=127.0.0.1 port=${e.port} dbname=app user=postgres password=${e.password}' ` +
        `PUBLICATION hand_pub WITH (slot_name = 'hand_slot_v2')`,
    );
    await eventually(
      async () =>
        (await west().query<{ c: string }>('SELECT count(*)::text AS c FROM public.orders'))[0]!.c === '100',
      HANG_MS,
      'hand_sub to copy orders',
    );
  });

  test('1: a slot-name difference over rows is a plan error naming `slot: hand_slot_v2`; apply changes nothing', async () => {
    const path = file([
      ...pub,
      'subscriptions:',
      '  hand_sub:',
      '    node: west',
      '    from: east',
      '    publications: [hand_pub]',
    ]);
    const plan = await steep(['plan'], path);
    expect(plan.code).toBe(1);
    expect(plan.stdout + plan.stderr).toContain(
      'subscription hand_sub on west would be replaced (slot cannot be altered in place), copying its tables again into tables that already hold rows there: public.orders',
    );
    expect(plan.stdout + plan.stderr).toContain('declare slot: hand_slot_v2 for subscription hand_sub');
    const apply = await steep(['apply', '--auto-approve', '--allow-destroy'], path);
    expect(apply.code).toBe(1);
    const [s] = await west().query<{ slot: string }>(
      `SELECT subslotname AS slot FROM pg_subscription WHERE subname = 'hand_sub'`,
    );
    expect(s!.slot).toBe('hand_slot_v2');
  });

  test('2: the same subscription renamed in the file is a plan error naming both, with the fix', async () => {
    const n2 = [
      ...pub,
      'subscriptions:',
      '  n2_orders:',
      '    node: west',
      '    from: east',
      '    publications: [hand_pub]',
      '    init: { method: none }',
    ];
    const plan = await steep(['plan'], file(n2));
    expect(plan.code).toBe(1);
    const text = plan.stdout + plan.stderr;
    expect(text).toContain(
      'subscription n2_orders: subscription hand_sub on west (not managed by steep) already receives public.orders from east',
    );
    expect(text).toContain('add renamedFrom: hand_sub to');
    expect(text).toContain('(or declare it as hand_sub) in steep.yaml');
    // hand_sub is not steep's: the way out names no drop of it (issue 81 item 4)
    expect(text).toContain(
      'otherwise take public.orders out of n2_orders in steep.yaml, or out of hand_sub, which steep neither alters nor drops (its owner postgres decides what becomes of it)',
    );
    expect(text).not.toContain('DROP SUBSCRIPTION hand_sub');
    // the advice followed: the same subscription, adopted under its new name in place
    const renamed = await steep(['plan'], file([...n2, '    renamedFrom: hand_sub']));
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).toContain('ALTER SUBSCRIPTION "hand_sub" RENAME TO "n2_orders"');
    expect(renamed.stdout).not.toContain('DROP SUBSCRIPTION');
  });

  test('10, 6, 11.9: adoption is its own action, keeps the comment, is not drift; other tools and owners are named', async () => {
    const body = [
      ...pub,
      'subscriptions:',
      '  hand_sub:',
      '    node: west',
      '    from: east',
      '    publications: [hand_pub]',
      '    slot: hand_slot_v2',
      '    init: { method: none }',
    ];
    const path = file(body);
    const plan = await steep(['plan'], path);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      '@ publication.hand_pub (east) adopt: exists on east without steep\'s marker: adopted (its comment gains the marker, keeping "orders for the EU shop (DBA-12)"), nothing else changes',
    );
    expect(plan.stdout).toContain('@ subscription.hand_sub (west) adopt:');
    expect(plan.stdout).toContain('Plan: 2 to adopt, 2 to create'); // the two state schemas
    expect(plan.stdout).toContain('publication billing_pub on east (managed by steep topology billing)');
    // another tool's slot (pgoutput, of a name steep never gave): listed, never offered for dropping
    expect(plan.stdout).toMatch(
      /Replication slots steep did not make[^\n]*\n\s+east\/debezium_orders: pgoutput, retains/,
    );
    expect(plan.stdout).not.toContain('pg_drop_replication_slot');
    const md = await steep(['plan', '--format', 'markdown'], path);
    expect(md.stdout.match(/<summary>.*steep's state schema<\/summary>/g)).toHaveLength(2);
    expect(md.stdout).toContain('| 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 |');
    expect(md.stdout).toContain('- publication `billing_pub` on east (managed by steep topology `billing`)');
    const json = JSON.parse((await steep(['plan', '--json'], path)).stdout) as {
      steps: Array<{ address: string; action: string; reason: string }>;
      drift: unknown[];
    };
    expect(json.steps.filter((s) => s.action === 'adopt').map((s) => [s.address, s.reason])).toEqual([
      ['publication.hand_pub', 'unmarked'],
      ['subscription.hand_sub', 'unmarked'],
    ]);
    expect(json.drift).toEqual([]);

    // 6: orphaned slots of another tool keep drift at 2 until ignored; the plan counts what it ignored
    const drift = await steep(['drift'], path);
    expect(drift.code, drift.stdout).toBe(2);
    expect(drift.stdout).toContain('east/debezium_orders');
    expect(drift.stdout).not.toContain('adopt publication.hand_pub');
    const ignoring = file([...body, 'ignore:', '  slots: ["debezium_*", "old_*"]']);
    // being adopted is not drift; what drift still says is that hand_sub's rows were never
    // compared (steep has no evidence of a subscription made by hand: unverified, exit 2)
    const quiet = await steep(['drift'], ignoring);
    expect(quiet.code, quiet.stdout).toBe(2);
    expect(quiet.stdout).not.toContain('debezium');
    expect(quiet.stdout).not.toContain('adopt');
    expect(quiet.stdout).toContain(
      'Drift: 1 subscription(s) unverified: a table not compared within the verify window.',
    );
    expect(quiet.stdout).toContain('public.orders was never compared (verify window 7d)');
    expect((await steep(['plan'], ignoring)).stdout).toContain(
      'ignore: 2 slots matched (not reported, never touched)',
    );

    // apply --allow-destroy drops only the orphans settings.dropOrphanSlots names
    const dropping = file([
      ...body,
      'settings:',
      '  dropOrphanSlots: ["old_*"]',
      'ignore:',
      '  slots: ["debezium_*"]',
    ]);
    expect((await steep(['apply', '--auto-approve'], dropping)).code).toBe(1); // a drop needs --allow-destroy
    const applied = await steep(['apply', '--auto-approve', '--allow-destroy'], dropping);
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    const slots = await east().query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots ORDER BY 1',
    );
    expect(slots.map((s) => s.slot_name)).toEqual(['debezium_orders', 'hand_slot_v2']);
    const [c] = await east().query<{ c: string }>(
      `SELECT obj_description(oid, 'pg_publication') AS c FROM pg_publication WHERE pubname = 'hand_pub'`,
    );
    expect(c!.c).toBe('orders for the EU shop (DBA-12)\nmanaged by steep: topology=shop');
    expect((await steep(['plan', '--detailed-exitcode'], dropping)).code).toBe(0);
  });

  test('3: tables joining an init-none subscription: data-gap error, copy copies just them, skip is reported by drift', async () => {
    const sub = [
      'subscriptions:',
      '  hand_sub:',
      '    node: west',
      '    from: east',
      '    publications: [hand_pub]',
      '    slot: hand_slot_v2',
    ];
    const tables = (list: string) => [
      'publications:',
      '  hand_pub:',
      '    node: east',
      `    tables: [${list}]`,
    ];
    const gap = file([...tables('public.orders, public.items'), ...sub, '    init: { method: none }']);
    const plan = await steep(['plan'], gap);
    expect(plan.code).toBe(1);
    expect(plan.stdout + plan.stderr).toContain(
      'subscription hand_sub on west (init method none) would start receiving public.items without copying them (hazard data-gap)',
    );
    expect(plan.stdout + plan.stderr).toContain('set init.newTables: copy');

    // copy into a joining table that already holds a row on west: the copy would hit its key
    await west().query(`INSERT INTO public.items VALUES (7, 'kept by hand')`);
    const over = file([
      ...tables('public.orders, public.items'),
      ...sub,
      '    init: { method: none, newTables: copy }',
    ]);
    const refused = await steep(['plan'], over);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      'subscription hand_sub on west would copy the tables joining it into tables that already hold rows there: public.items;',
    );
    expect((await steep(['apply', '--auto-approve'], over)).code).toBe(1);
    expect((await west().query<{ c: string }>('SELECT count(*)::text AS c FROM public.items'))[0]!.c).toBe(
      '1',
    );

    const copy = file([
      ...tables('public.orders, public.items'),
      ...sub,
      '    init: { method: none, newTables: copy, existingData: truncate }',
    ]);
    const shown = await steep(['plan', '--json'], copy);
    const step = (
      JSON.parse(shown.stdout) as {
        steps: Array<{
          address: string;
          hazards: string[];
          sql: string[];
          copy?: { tables: string[]; rateSource: string };
        }>;
      }
    ).steps.find((s) => s.address === 'subscription.hand_sub')!;
    expect(step.hazards).toEqual(['truncates-data', 'copies-data']);
    expect(step.sql.join('\n')).toContain('TRUNCATE TABLE "public"."items"');
    expect(step.copy).toMatchObject({ tables: ['public.items'], rateSource: 'default' });
    // --max-copy: a size steep cannot know is refused, then one above the limit
    expect((await steep(['apply', '--auto-approve', '--max-copy', '1kB'], copy)).stderr).toContain(
      'error: --max-copy 1.0 kB: the size of what subscription.hand_sub copies is unknown (tables never analysed on the publisher)',
    );
    await east().query('ANALYZE public.items');
    expect((await steep(['apply', '--auto-approve', '--max-copy', '1kB'], copy)).stderr).toContain(
      'more than --max-copy 1.0 kB; nothing was changed',
    );
    // truncates-data is a gate: --auto-approve alone refuses before anything changes
    const itemsOnWest = async () =>
      (await west().query<{ c: string }>('SELECT count(*)::text AS c FROM public.items'))[0]!.c;
    const before = await itemsOnWest();
    const held = await steep(['apply', '--auto-approve'], copy);
    expect(held.code, held.stderr).toBe(1);
    expect(held.stderr).toContain(
      'error: step s2 update subscription.hand_sub (truncates-data) runs only with its hazards allowed by name; nothing was changed — rerun with --allow-hazard truncates-data',
    );
    expect(await itemsOnWest()).toBe(before);
    const applied = await steep(['apply', '--auto-approve', '--allow-hazard', 'truncates-data'], copy);
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    await eventually(
      async () =>
        (await west().query<{ c: string }>('SELECT count(*)::text AS c FROM public.items'))[0]!.c === '100',
      HANG_MS,
      'items to be copied',
    );
    expect((await west().query<{ c: string }>('SELECT count(*)::text AS c FROM public.orders'))[0]!.c).toBe(
      '100',
    );

    // skip: the DBA vouches the rows are there; apply compares what it was vouched for (every
    // init ends with evidence) and finds the table empty on west while east holds rows: the step
    // fails, diverged, naming the copy that repairs it; drift finds it too
    const skip = file([
      ...tables('public.orders, public.items, public.notes'),
      ...sub,
      '    init: { method: none, newTables: skip }',
    ]);
    const skipped = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap'], skip);
    expect(skipped.code, skipped.stderr + skipped.stdout).toBe(1);
    expect(skipped.stderr).toContain(
      "the tables that joined hand_sub ended with rows that differ from east's: public.notes (missing 100, extra 0, different 0); it is diverged — repair with: steep reinit hand_sub --tables public.notes",
    );
    await waitCaughtUp(east(), 'hand_slot_v2');
    const drift = await steep(['drift', '--json'], skip);
    expect(drift.code, drift.stdout).toBe(2);
    expect((JSON.parse(drift.stdout) as { dataGaps: unknown[] }).dataGaps).toEqual([
      { subscription: 'hand_sub', node: 'west', from: 'east', table: 'public.notes' },
    ]);
  });

  test('9: --target applies one subscription although another has an error; 8: merge needs a strategy', async () => {
    const path = file([
      'publications:',
      '  hand_pub:',
      '    node: east',
      '    tables: [public.orders, public.items, public.notes]',
      '  broken_pub:',
      '    node: east',
      '    tables: [public.missing]',
      'subscriptions:',
      '  hand_sub:',
      '    node: west',
      '    from: east',
      '    publications: [hand_pub]',
      '    slot: hand_slot_v2',
      '    enabled: false',
      '    init: { method: none, newTables: skip }',
      '  broken_sub:',
      '    node: west',
      '    from: east',
      '    publications: [broken_pub]',
    ]);
    expect((await steep(['plan'], path)).code).toBe(1);
    const scoped = await steep(['apply', '--auto-approve', '--target', 'subscription.hand_sub'], path);
    expect(scoped.code, scoped.stderr + scoped.stdout).toBe(0);
    expect(scoped.stdout).toContain(
      'outside --target, not applied now: east: table public.missing does not exist',
    );
    const [s] = await west().query<{ e: boolean }>(
      `SELECT subenabled AS e FROM pg_subscription WHERE subname = 'hand_sub'`,
    );
    expect(s!.e).toBe(false);

    for (const method of ['merge']) {
      const bad = file([
        ...pub,
        'subscriptions:',
        '  x_sub:',
        '    node: west',
        '    from: east',
        '    publications: [hand_pub]',
        `    init: { method: ${method} }`,
      ]);
      const r = await steep(['validate'], bad);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`init method ${method} needs a \`strategy\` for conflicting rows`);
    }
  });
});
