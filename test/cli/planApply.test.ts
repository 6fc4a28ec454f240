import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { accept } from '../support/acceptance.js';
import { REPO_ROOT, runSteep, startSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * plan and apply through the CLI against two real PostgreSQL nodes (the first of testVersions(),
 * 18 by default): create, change every kind of attribute in place, drift, removal, locking,
 * stale plans. After every apply a fresh plan must be empty. Column lists and row filters need
 * 15, failover 17: older servers run the rest.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES = `
  CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total numeric(10,2), region text);
  CREATE TABLE public.customers (id bigint PRIMARY KEY, name text NOT NULL, region text NOT NULL);
  -- its row filter uses region: the replica identity must cover it (else every UPDATE fails)
  CREATE UNIQUE INDEX customers_identity ON public.customers (id, region);
  ALTER TABLE public.customers REPLICA IDENTITY USING INDEX customers_identity;
  CREATE TABLE public.invoices (id bigint PRIMARY KEY, amount numeric);
  CREATE TABLE public."Order Items" (id bigint PRIMARY KEY, sku text);
`;

function config(body: string, topology = 'cli-test'): string {
  const [east, west] = cluster().nodes;
  return `version: 1\ntopology: ${topology}\n${nodesYaml([east!, west!])}\n${body}`;
}

interface Shape {
  extraTables?: string[];
  customersWhere?: string;
  subscriptionPublications?: string[];
  enabled?: boolean;
  options?: Record<string, string | boolean>;
  withSubscription?: boolean;
  extraPubProtect?: boolean;
  withExtraPub?: boolean;
}

/** Column lists and row filters: PostgreSQL 15+. */
const filtered = () => cluster().node('east').version >= 15;

/** The test topology's publications and subscription, shaped by the test step. */
function body(shape: Shape = {}): string {
  const lines = [
    'publications:',
    '  orders_pub:',
    '    node: east',
    '    tables:',
    '      - public.orders',
    ...(shape.extraTables ?? []).map((t) => `      - '${t}'`),
    ...(filtered()
      ? [
          '      - name: public.customers',
          '        columns: [id, name, region]',
          `        where: "${shape.customersWhere ?? "region = 'eu'"}"`,
        ]
      : ['      - public.customers']),
  ];
  if (shape.withExtraPub !== false) {
    lines.push('  extra_pub:', '    node: east', '    tables: [public.invoices]');
    if (shape.extraPubProtect) lines.push('    protect: true');
  }
  if (shape.withSubscription !== false) {
    lines.push(
      'subscriptions:',
      '  west_orders:',
      '    node: west',
      '    from: east',
      `    publications: [${(shape.subscriptionPublications ?? ['orders_pub']).join(', ')}]`,
      `    enabled: ${shape.enabled ?? true}`,
      '    options:',
      ...Object.entries(shape.options ?? { streaming: 'on' }).map(
        ([k, v]) => `      ${k}: ${typeof v === 'string' ? `"${v}"` : v}`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });

async function expectEmptyPlan(path: string) {
  const r = await steep(['plan', '--detailed-exitcode'], path);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toContain('No changes');
}

async function subscriptionRow(name: string) {
  const rows = await cluster().node('west').query<{
    oid: number;
    subslotname: string;
    subenabled: boolean;
    substream: string;
    subpublications: string[];
  }>(
    // substream is a boolean before 16 (true/false) and a char from 16 (t/f/p): compare as a char
    'SELECT oid::int, subslotname, subenabled, left(substream::text, 1) AS substream, subpublications FROM pg_subscription WHERE subname = $1',
    [name],
  );
  return rows[0];
}

describe('plan and apply through the CLI', () => {
  let path: string;

  beforeAll(async () => {
    for (const n of cluster().nodes) await n.query(TABLES);
    path = writeConfig(config(body()));
  });

  it('writes a JSON plan that validates against schemas/plan.schema.json', async () => {
    const out = `${path}.plan.json`;
    const r = await steep(['plan', '--json', '--out', out], path);
    expect(r.code, r.stderr).toBe(0);
    const ajv = new Ajv({ allErrors: true, strict: false });
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(`${REPO_ROOT}/schemas/plan.schema.json`, 'utf8')));
    for (const doc of [JSON.parse(r.stdout), JSON.parse(readFileSync(out, 'utf8'))]) {
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
      expect(doc.summary.create).toBeGreaterThanOrEqual(3);
    }
  });

  it('renders Markdown for a pull request', async () => {
    const r = await steep(['plan', '--format', 'markdown'], path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('## steep plan');
    expect(r.stdout).toContain('<details>');
    expect(r.stdout).toContain('```sql');
  });

  it('plans a fresh topology as creates (exit 2 with --detailed-exitcode) and applies: objects exist with the declared options, rows replicate, a fresh plan is empty', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await accept(steep, {
      config: path,
      steps: [
        'create node.east',
        'create node.west',
        'create publication.extra_pub',
        'create publication.orders_pub',
        'create subscription.west_orders',
        'init subscription.west_orders',
      ],
      hazards: { 'create subscription.west_orders': ['copies-data'] },
      planText: (stdout) => {
        expect(stdout).toContain('+ publication.orders_pub');
        expect(stdout).toContain('+ subscription.west_orders');
        expect(stdout).toMatch(/CREATE SUBSCRIPTION "west_orders" CONNECTION '.*password=\*\*\*\*/);
      },
      afterApply: async () => {
        const pubs = await east.query<{ pubname: string }>('SELECT pubname FROM pg_publication ORDER BY 1');
        expect(pubs.map((p) => p.pubname)).toEqual(['extra_pub', 'orders_pub']);
        const sub = await subscriptionRow('west_orders');
        expect(sub?.substream).toBe('t');
        expect(sub?.subslotname).toBe('west_orders');
        const slots = await east.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots');
        expect(slots.map((s) => s.slot_name)).toContain('west_orders');

        await east.query("INSERT INTO public.orders VALUES (1, 1, 9.99, 'eu')");
        await east.query("INSERT INTO public.customers VALUES (1, 'Ada', 'eu'), (2, 'Bob', 'us')");
        await eventually(
          async () => (await west.query('SELECT 1 FROM public.orders WHERE id = 1')).length === 1,
          HANG_MS,
          'order to replicate',
        );
        const customers = filtered()
          ? [{ id: '1', name: 'Ada' }]
          : [
              { id: '1', name: 'Ada' },
              { id: '2', name: 'Bob' },
            ];
        await eventually(
          async () => (await west.query('SELECT 1 FROM public.customers')).length === customers.length,
          HANG_MS,
          'eu customer',
        );
        expect(await west.query('SELECT id, name FROM public.customers ORDER BY id')).toEqual(customers);

        const log = await west.query<{ sql: string; status: string }>(
          'SELECT sql, status FROM steep.apply_log',
        );
        expect(log.length).toBeGreaterThan(0);
        expect(log.every((l) => l.status === 'completed')).toBe(true);
        for (const l of log) expect(l.sql).not.toContain(east.password);
      },
      rows: { from: east, to: west, tables: ['orders'] },
    });
  });

  it('changes every kind of attribute in place: same subscription OID and slot', async () => {
    const before = await subscriptionRow('west_orders');
    const changed: Shape = {
      extraTables: ['public."Order Items"'],
      customersWhere: "region = 'us'",
      options: { streaming: 'off' },
      subscriptionPublications: ['orders_pub', 'extra_pub'],
      enabled: false,
    };
    writeFileSync(path, config(body(changed)));
    await accept(steep, {
      config: path,
      steps: ['update publication.orders_pub', 'update subscription.west_orders'],
      // the subscription gains extra_pub: its tables are copied; a row filter it holds changes:
      // the rows the new one takes in are never copied (its gap stands: the subscription is
      // disabled by the same apply, so apply compares nothing)
      hazards: {
        'update subscription.west_orders': ['copies-data'],
        ...(filtered() ? { 'update publication.orders_pub': ['data-gap'] } : {}),
      },
      planText: (stdout) => {
        // the nodes still match what the last apply recorded: a file change, not drift
        expect(stdout).not.toContain('Drift');
        expect(stdout).toContain('steep.yaml changes');
        expect(stdout).toContain('~ publication.orders_pub');
        expect(stdout).toContain('SET TABLE');
        expect(stdout).toContain('"public"."Order Items"');
        if (filtered()) expect(stdout).toMatch(/reinit/); // a changed row filter does not re-copy
        expect(stdout).not.toContain('-/+');
      },
      afterApply: async () => {
        const after = await subscriptionRow('west_orders');
        expect(after?.oid).toBe(before?.oid);
        expect(after?.subslotname).toBe(before?.subslotname);
        expect(after?.substream).toBe('f');
        expect(after?.subenabled).toBe(false);
        expect([...(after?.subpublications ?? [])].sort()).toEqual(['extra_pub', 'orders_pub']);
      },
    });

    // failover on an enabled subscription needs disable → alter → enable (PG 17+)
    const enabled: Shape = { ...changed, enabled: true };
    writeFileSync(path, config(body(enabled)));
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(0);
    if (cluster().node('west').version < 17) {
      await expectEmptyPlan(path);
      return;
    }
    writeFileSync(path, config(body({ ...enabled, options: { streaming: 'off', failover: true } })));
    const f = await steep(['apply', '--auto-approve'], path);
    expect(f.code, `${f.stdout}\n${f.stderr}`).toBe(0);
    expect(f.stdout).toMatch(/DISABLE[\s\S]*failover = true[\s\S]*ENABLE/);
    const afterFailover = await cluster()
      .node('west')
      .query<{ oid: number; subfailover: boolean; subenabled: boolean }>(
        "SELECT oid::int, subfailover, subenabled FROM pg_subscription WHERE subname = 'west_orders'",
      );
    expect(afterFailover).toEqual([{ oid: before?.oid, subfailover: true, subenabled: true }]);
    await expectEmptyPlan(path);
  });

  it('shows a hand-made change as drift (exit 2) and apply reverts it', async () => {
    await cluster().node('east').query('ALTER PUBLICATION extra_pub DROP TABLE public.invoices');
    // west_orders still lists public.invoices: putting it back copies nothing (a gap, docs/status.md)
    await accept(steep, {
      config: path,
      steps: ['update publication.extra_pub'],
      hazards: { 'update publication.extra_pub': ['data-gap'] },
      planText: (stdout) => {
        expect(stdout).toContain('Drift');
        expect(stdout).toContain('publication.extra_pub');
        expect(stdout).toContain('`steep reinit west_orders --tables public.invoices`');
      },
    });
    // the way out the plan names
    const copied = await steep(
      ['reinit', 'west_orders', '--auto-approve', '--tables', 'public.invoices'],
      path,
    );
    expect(copied.code, `${copied.stdout}\n${copied.stderr}`).toBe(0);
  });

  it('takes a piped answer (`echo yes | steep apply`) as the answer to its prompt, never as a plan file', async () => {
    const east = cluster().node('east');
    const env = passwordEnv(cluster().nodes);
    const tables = async () =>
      (
        await east.query<{ t: string }>(
          "SELECT tablename AS t FROM pg_publication_tables WHERE pubname = 'extra_pub'",
        )
      ).map((r) => r.t);
    await east.query('ALTER PUBLICATION extra_pub DROP TABLE public.invoices');
    // (putting the table back while west_orders lists it is a data-gap, allowed here by name)
    const gate = ['--allow-hazard', 'data-gap'];
    // an answer other than yes cancels, nothing changes
    const no = await runSteep(['apply', ...gate, '-c', path], { env, input: 'no\n' });
    expect(no.code, no.stderr).toBe(1);
    expect(no.stderr).toContain('apply cancelled; nothing was changed');
    expect(await tables()).toEqual([]);
    // no answer at all (stdin closed, as in CI): the refusal naming --auto-approve
    const none = await runSteep(['apply', ...gate, '-c', path], { env, input: '' });
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toContain('--auto-approve');
    expect(await tables()).toEqual([]);
    const yes = await runSteep(['apply', ...gate, '-c', path], { env, input: 'yes\n' });
    expect(yes.code, `${yes.stdout}\n${yes.stderr}`).toBe(0);
    expect(yes.stdout).toContain('Apply complete');
    expect(await tables()).toEqual(['invoices']);
    await expectEmptyPlan(path);
  });

  it(
    'refuses a gated hazard with --auto-approve at once, naming the flag, never reading a stdin that stays open',
    async () => {
      const east = cluster().node('east');
      const published = () =>
        east.query("SELECT tablename FROM pg_publication_tables WHERE pubname = 'extra_pub'");
      await east.query('ALTER PUBLICATION extra_pub DROP TABLE public.invoices');
      // stdin a pipe that stays open and never writes: a CI job's, `ssh host steep apply …`
      const run = startSteep(['apply', '--auto-approve', '-c', path], passwordEnv(cluster().nodes), {
        stdin: 'pipe',
      });
      // a ceiling that only catches the hang, within the test's own (twice it): the clean-up runs
      let timer: NodeJS.Timeout | undefined;
      try {
        const hung = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), HANG_MS);
        });
        const r = await Promise.race([run.exited, hung]);
        expect(r, `still waiting after ${HANG_MS} ms:\n${run.output.stderr}`).not.toBeNull();
        expect(r!.code, r!.stderr).toBe(1);
        expect(r!.stderr).toContain('runs only with its hazards allowed by name; nothing was changed');
        expect(r!.stderr).toContain('rerun with --allow-hazard data-gap');
        // nothing was asked
        expect(r!.stderr).not.toContain('is accepted');
        expect(await published()).toEqual([]);
      } finally {
        clearTimeout(timer);
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
        run.child.stdin?.destroy();
        await run.exited;
        // the table back, for the cases after this one
        const back = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap'], path);
        expect(back.code, back.stderr).toBe(0);
      }
      await expectEmptyPlan(path);
    },
    2 * HANG_MS,
  );

  it('refuses a second apply while the lock is held, naming the holder', async () => {
    const holder = await cluster().node('west').client();
    try {
      await holder.query("SET application_name = 'other steep'");
      await holder.query('SELECT pg_advisory_lock(495474672)');
      await cluster().node('west').query('ALTER SUBSCRIPTION west_orders DISABLE');
      const r = await steep(['apply', '--auto-approve'], path);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/other steep \(pid \d+, since /);
      expect((await subscriptionRow('west_orders'))?.subenabled).toBe(false);
    } finally {
      await holder.end();
    }
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(0);
  });

  it('applies a saved plan exactly, and refuses a stale one', async () => {
    await cluster().node('east').query('ALTER PUBLICATION extra_pub DROP TABLE public.invoices');
    const out = `${path}.saved.json`;
    // putting public.invoices back while west_orders lists it: data-gap, allowed by name in the saved plan
    const gate = ['--allow-hazard', 'data-gap'];
    expect((await steep(['plan', ...gate, '--out', out], path)).code).toBe(0);
    await cluster().node('east').query('ALTER PUBLICATION extra_pub SET (publish = insert)');
    const stale = await steep(['apply', out], path);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('plan is stale');
    expect(stale.stderr).toContain('publication.extra_pub');
    expect((await steep(['plan', ...gate, '--out', out], path)).code).toBe(0);
    const ok = await steep(['apply', out], path);
    expect(ok.code, ok.stderr).toBe(0);
    await expectEmptyPlan(path);
  });

  it('refuses deletions without --allow-destroy, drops subscription and slot with it, never a protected object', async () => {
    const final: Shape = {
      ...{ extraTables: ['public."Order Items"'], customersWhere: "region = 'us'" },
      withSubscription: false,
    };
    writeFileSync(path, config(body(final)));
    const refused = await steep(['apply', '--auto-approve'], path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--allow-destroy');
    expect(await subscriptionRow('west_orders')).toBeDefined();

    const ok = await steep(['apply', '--auto-approve', '--allow-destroy'], path);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await subscriptionRow('west_orders')).toBeUndefined();
    const slots = await cluster()
      .node('east')
      .query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', ['west_orders']);
    expect(slots).toHaveLength(0);
    await expectEmptyPlan(path);

    writeFileSync(path, config(body({ ...final, extraPubProtect: true })));
    expect((await steep(['apply', '--auto-approve'], path)).code).toBe(0);
    writeFileSync(path, config(body({ ...final, withExtraPub: false })));
    const p = await steep(['apply', '--auto-approve', '--allow-destroy'], path);
    expect(p.code).toBe(1);
    expect(p.stdout + p.stderr).toMatch(/protect/);
    expect(
      await cluster().node('east').query("SELECT 1 FROM pg_publication WHERE pubname = 'extra_pub'"),
    ).toHaveLength(1);
  });
});
