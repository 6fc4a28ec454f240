import { describe, expect, test } from 'vitest';
import { writeLoop } from '../support/appWriter.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Schema differences between publisher (east) and subscriber (west), each kind on its own
 * table, through the CLI on real PostgreSQL 18 and 14: `schema compare` / `schema diff` see
 * them; `plan` fails in strict mode naming table and column, warns in manual mode (and apply
 * needs --accept-schema-drift), and in auto mode plans the DDL, applies it, replicates rows into
 * the synced tables, and plans nothing afterwards.
 */

interface Kind {
  /** table on both nodes (or east only) */
  table: string;
  east: string;
  west: string | null;
  /** what compare says before any sync */
  status: 'MISMATCH' | 'ORDER_DIFFERS' | 'LOCAL_ONLY';
  /** the column a strict error and a diff name */
  column?: string;
  /** the difference `schema diff` reports for it */
  diff?: 'missing' | 'extra' | 'type' | 'default' | 'nullability';
  /** a statement the auto plan holds */
  ddl?: RegExp;
  /** hazards its step carries (a type change: data-gap, as the old rows are converted by the subscriber's cast) */
  hazards?: Array<'rewrites-table' | 'locks-table' | 'data-gap'>;
  /** after auto sync: what compare says */
  after: 'MATCH' | 'ORDER_DIFFERS' | 'MISMATCH';
  /** a row for the replication check: columns and values for an INSERT on east */
  row: string;
}

const KINDS: Kind[] = [
  {
    table: 'public.k_add',
    east: 'id int PRIMARY KEY, a text, b int',
    west: 'id int PRIMARY KEY, a text',
    status: 'MISMATCH',
    column: 'b',
    diff: 'missing',
    ddl: /ADD COLUMN "b" integer/,
    hazards: ['locks-table'],
    after: 'MATCH',
    row: '(id, a, b) VALUES (1, $$x$$, 2)',
  },
  {
    // added in the middle on the publisher: lands at the end on the subscriber
    table: 'public.k_add_mid',
    east: 'id int PRIMARY KEY, b int, a text',
    west: 'id int PRIMARY KEY, a text',
    status: 'MISMATCH',
    column: 'b',
    diff: 'missing',
    ddl: /ADD COLUMN "b" integer/,
    after: 'ORDER_DIFFERS',
    row: '(id, a, b) VALUES (1, $$x$$, 2)',
  },
  {
    table: 'public.k_drop',
    east: 'id int PRIMARY KEY, a text',
    west: 'id int PRIMARY KEY, a text, c text',
    status: 'MISMATCH',
    column: 'c',
    diff: 'extra',
    after: 'MISMATCH',
    row: '(id, a) VALUES (1, $$x$$)',
  },
  {
    table: 'public.k_type',
    east: 'id int PRIMARY KEY, v bigint',
    west: 'id int PRIMARY KEY, v text',
    status: 'MISMATCH',
    column: 'v',
    diff: 'type',
    ddl: /ALTER COLUMN "v" TYPE bigint USING "v"::bigint/,
    hazards: ['rewrites-table', 'data-gap'],
    after: 'MATCH',
    row: '(id, v) VALUES (1, 9000000000)',
  },
  {
    table: 'public.k_len',
    east: 'id int PRIMARY KEY, v varchar(20)',
    west: 'id int PRIMARY KEY, v varchar(10)',
    status: 'MISMATCH',
    column: 'v',
    diff: 'type',
    ddl: /ALTER COLUMN "v" TYPE character varying\(20\)/,
    hazards: ['rewrites-table', 'data-gap'],
    after: 'MATCH',
    row: '(id, v) VALUES (1, $$fifteen chars!!$$)',
  },
  {
    table: 'public.k_prec',
    east: 'id int PRIMARY KEY, v numeric(12,2)',
    west: 'id int PRIMARY KEY, v numeric(10,2)',
    status: 'MISMATCH',
    column: 'v',
    diff: 'type',
    ddl: /ALTER COLUMN "v" TYPE numeric\(12,2\)/,
    hazards: ['data-gap'],
    after: 'MATCH',
    row: '(id, v) VALUES (1, 1234567890.12)',
  },
  {
    table: 'public.k_def_add',
    east: 'id int PRIMARY KEY, v int DEFAULT 0',
    west: 'id int PRIMARY KEY, v int',
    status: 'MISMATCH',
    column: 'v',
    diff: 'default',
    ddl: /ALTER COLUMN "v" SET DEFAULT 0/,
    after: 'MATCH',
    row: '(id) VALUES (1)',
  },
  {
    table: 'public.k_def_change',
    east: "id int PRIMARY KEY, v text DEFAULT 'new'",
    west: "id int PRIMARY KEY, v text DEFAULT 'old'",
    status: 'MISMATCH',
    column: 'v',
    diff: 'default',
    ddl: /ALTER COLUMN "v" SET DEFAULT 'new'::text/,
    after: 'MATCH',
    row: '(id) VALUES (1)',
  },
  {
    table: 'public.k_def_drop',
    east: 'id int PRIMARY KEY, v int',
    west: 'id int PRIMARY KEY, v int DEFAULT 5',
    status: 'MISMATCH',
    column: 'v',
    diff: 'default',
    ddl: /ALTER COLUMN "v" DROP DEFAULT/,
    after: 'MATCH',
    row: '(id, v) VALUES (1, 1)',
  },
  {
    table: 'public.k_nn_add',
    east: 'id int PRIMARY KEY, v int NOT NULL',
    west: 'id int PRIMARY KEY, v int',
    status: 'MISMATCH',
    column: 'v',
    diff: 'nullability',
    ddl: /ALTER COLUMN "v" SET NOT NULL/,
    hazards: ['locks-table'],
    after: 'MATCH',
    row: '(id, v) VALUES (1, 1)',
  },
  {
    table: 'public.k_nn_drop',
    east: 'id int PRIMARY KEY, v int',
    west: 'id int PRIMARY KEY, v int NOT NULL',
    status: 'MISMATCH',
    column: 'v',
    diff: 'nullability',
    ddl: /ALTER COLUMN "v" DROP NOT NULL/,
    after: 'MATCH',
    row: '(id) VALUES (1)',
  },
  {
    table: 'public.k_missing',
    east: "id bigserial PRIMARY KEY, n int GENERATED ALWAYS AS IDENTITY, mood public.k_mood, qty int NOT NULL DEFAULT 1, twice int GENERATED ALWAYS AS (qty * 2) STORED, note varchar(20) DEFAULT 'n/a'",
    west: null,
    status: 'LOCAL_ONLY',
    ddl: /CREATE TABLE "public"."k_missing"/,
    after: 'MATCH',
    row: "(mood, qty) VALUES ('happy', 3)",
  },
  {
    table: 'public.k_order',
    east: 'id int PRIMARY KEY, a text, b text',
    west: 'id int PRIMARY KEY, b text, a text',
    status: 'ORDER_DIFFERS',
    after: 'ORDER_DIFFERS',
    row: '(id, a, b) VALUES (1, $$a$$, $$b$$)',
  },
  {
    table: '"Mixed Case"."Order Lines"',
    east: 'id int PRIMARY KEY, "Unit Price" numeric(12,2), "Added Col" text',
    west: 'id int PRIMARY KEY, "Unit Price" numeric(10,2)',
    status: 'MISMATCH',
    column: 'Unit Price',
    diff: 'type',
    ddl: /ALTER COLUMN "Unit Price" TYPE numeric\(12,2\)/,
    after: 'MATCH',
    row: '(id, "Unit Price", "Added Col") VALUES (1, 12.5, $$x$$)',
  },
];

/** `schema.table` as steep prints it (no quotes). */
function printed(table: string): string {
  return table.replace(/"/g, '');
}

const PREPARE = `
  CREATE SCHEMA IF NOT EXISTS "Mixed Case";
  DO $$ BEGIN CREATE TYPE public.k_mood AS ENUM ('sad', 'ok', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
`;

describe.each(testVersions())('schema differences on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const nodes = () => cluster().nodes as [TestNode, TestNode];

  const steep = steepWith({ env: () => passwordEnv(nodes()) });

  function config(
    mode: string,
    opts: { tables?: string[]; topology?: string; name?: string; settings?: string; lines?: string[] } = {},
  ): string {
    const tables = opts.tables ?? KINDS.map((k) => k.table);
    const name = opts.name ?? 'kinds';
    return writeConfig(
      [
        'version: 1',
        `topology: ${opts.topology ?? 'schema-test'}`,
        nodesYaml(nodes()),
        'publications:',
        `  ${name}_pub:`,
        '    node: east',
        '    tables:',
        ...tables.map((t) => `      - '${t.replace(/'/g, "''")}'`),
        'subscriptions:',
        `  ${name}_sub:`,
        '    node: west',
        '    from: east',
        `    publications: [${name}_pub]`,
        `    schemaSync: ${mode}`,
        ...(opts.lines ?? []),
        ...(opts.settings ? ['settings:', `  ${opts.settings}`] : []),
        '',
      ].join('\n'),
    );
  }

  test('setup: every kind of difference, each on its own table', async () => {
    const [east, west] = nodes();
    await east.query(PREPARE);
    await west.query(PREPARE);
    for (const k of KINDS) {
      await east.query(`CREATE TABLE ${k.table} (${k.east})`);
      if (k.west) await west.query(`CREATE TABLE ${k.table} (${k.west})`);
    }
    await east.query('CREATE EXTENSION IF NOT EXISTS citext');
    await east.query('CREATE TABLE public.k_ext (id int PRIMARY KEY, e public.citext)');
    await west.query('CREATE TABLE public.k_ext (id int PRIMARY KEY)');
  });

  test('schema compare sees each kind; schema diff names the column', async () => {
    const path = config('strict');
    // one table per kind of column difference (compare covers every table); the calls only
    // read both nodes: all at once
    const perKind = [...new Map(KINDS.filter((x) => x.diff).map((x) => [x.diff, x])).values()];
    const [r, diffs, order, missing, exit, exit2] = await Promise.all([
      steep(['schema', 'compare', 'east', 'west', '--json'], path),
      Promise.all(perKind.map((k) => steep(['schema', 'diff', 'east', 'west', k.table], path))),
      steep(['schema', 'diff', 'east', 'west', 'public.k_order'], path),
      steep(['schema', 'diff', 'east', 'west', 'k_missing'], path),
      // --detailed-exitcode: 2 when any table differs
      steep(['schema', 'compare', 'east', 'west', '--tables', 'public.k_order', '--detailed-exitcode'], path),
      steep(['schema', 'compare', 'east', 'west', '--tables', 'public.k_add', '--detailed-exitcode'], path),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      tables: Array<{ table: string; status: string; columns: Array<{ column: string; kind: string }> }>;
    };
    const byTable = new Map(doc.tables.map((t) => [t.table, t]));
    for (const k of KINDS) {
      const t = byTable.get(printed(k.table));
      expect(t?.status, k.table).toBe(k.status);
      if (k.diff)
        expect(t!.columns, k.table).toContainEqual(
          expect.objectContaining({ column: k.column, kind: k.diff }),
        );
    }
    perKind.forEach((k, i) => {
      const d = diffs[i]!;
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout).toContain(k.column!);
      expect(d.stdout).toContain(
        k.diff === 'missing' ? 'missing on west' : k.diff === 'extra' ? 'extra on west' : k.diff!,
      );
    });
    expect(order.stdout).toContain('ORDER_DIFFERS');
    expect(missing.stdout).toMatch(/LOCAL_ONLY.*public\.k_missing/);
    expect(missing.stdout).toContain('missing on west');
    expect(exit.code, exit.stdout).toBe(0);
    expect(exit2.code).toBe(2);
  });

  test('strict: the plan fails, naming each table and column; ORDER_DIFFERS is no error', async () => {
    const path = config('strict', { tables: [...KINDS.map((k) => k.table), 'public.k_ext'] });
    // an ORDER_DIFFERS table alone plans cleanly (checked below; both plans only read)
    const [r, order] = await Promise.all([
      steep(['plan'], path),
      steep(['plan'], config('strict', { tables: ['public.k_order'], name: 'order' })),
    ]);
    expect(r.code, r.stdout).toBe(1);
    // an extra nullable subscriber column is what PostgreSQL accepts: reported, not an error
    for (const k of KINDS.filter((x) => x.status !== 'ORDER_DIFFERS' && x.diff !== 'extra')) {
      const line = r.stderr.split('\n').find((l) => l.includes(`table ${printed(k.table)} `));
      expect(line, `${k.table}\n${r.stderr}`).toBeDefined();
      if (k.column) expect(line).toContain(`column ${k.column}`);
    }
    expect(r.stderr).not.toContain('table public.k_drop ');
    expect(r.stdout).toContain('column c of public.k_drop (text) exists only on west (the subscriber): kept');
    expect(r.stderr).toContain('table public.k_ext');
    expect(r.stderr).toContain('column e');
    expect(r.stderr).not.toContain('table public.k_order ');
    expect(r.stdout).toMatch(/ORDER_DIFFERS\s+public\.k_order/);
    expect(order.code, order.stderr).toBe(0);
  });

  test('manual: a warning per table, an error naming the statement where a publisher column is missing; apply needs --accept-schema-drift without a terminal', async () => {
    const r = await steep(
      ['plan'],
      config('manual', { tables: [...KINDS.map((k) => k.table), 'public.k_ext'] }),
    );
    // a column missing on the subscriber stops its apply worker on the table: not for apply to confirm
    const stops = new Set(['public.k_add', 'public.k_add_mid', '"Mixed Case"."Order Lines"']);
    expect(r.code, r.stderr).toBe(1);
    for (const k of KINDS.filter((x) => x.status !== 'ORDER_DIFFERS' && x.diff !== 'extra'))
      expect(stops.has(k.table) ? r.stderr : r.stdout, k.table).toMatch(
        new RegExp(`schemaSync: manual\\): table ${printed(k.table).replace(/[.]/g, '\\.')} `),
      );
    expect(r.stderr).toContain('add it on west (ALTER TABLE "public"."k_add" ADD COLUMN "b" integer)');
    expect(r.stderr).toMatch(
      /schemaSync: manual\): table public\.k_ext .*column e \(public\.citext\) is missing on west/,
    );
    expect(r.stdout).toContain('column c of public.k_drop (text) exists only on west (the subscriber): kept');
    // apply: a benign difference (a default), on its own topology
    const [east, west] = nodes();
    await east.query('CREATE TABLE public.m_def (id int PRIMARY KEY, v int DEFAULT 1)');
    await west.query('CREATE TABLE public.m_def (id int PRIMARY KEY, v int DEFAULT 2)');
    const path = config('manual', { tables: ['public.m_def'], topology: 'schema-manual', name: 'manual' });
    const refused = await steep(['apply', '--auto-approve'], path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--accept-schema-drift');
    expect(await west.query("SELECT 1 FROM pg_subscription WHERE subname = 'manual_sub'")).toHaveLength(0);
    const applied = await steep(['apply', '--auto-approve', '--accept-schema-drift'], path);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await west.query("SELECT 1 FROM pg_subscription WHERE subname = 'manual_sub'")).toHaveLength(1);
    const again = await steep(
      ['apply', '--auto-approve', '--allow-destroy'],
      writeConfig(`version: 1\ntopology: schema-manual\n${nodesYaml(nodes())}\n`),
    );
    expect(again.code, again.stderr).toBe(0);
  });

  test('auto: a type from a missing extension is a plan error naming it, and nothing is planned for that table', async () => {
    const r = await steep(['plan'], config('auto', { tables: ['public.k_ext'], name: 'ext' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('public.citext');
    expect(r.stderr).toContain('CREATE EXTENSION citext on west');
    expect(r.stdout).not.toContain('table.west/public.k_ext');
  });

  test('auto: plans the DDL, applies it, replicates into the synced tables, then plans nothing', async () => {
    const path = config('auto');
    const plan = await steep(['plan', '--json'], path);
    expect(plan.code, plan.stderr).toBe(0);
    const doc = JSON.parse(plan.stdout) as {
      steps: Array<{
        address: string;
        action: string;
        kind: string;
        sql: string[];
        hazards: string[];
        dependsOn: string[];
        id: string;
      }>;
      schema: Array<{ table: string; status: string }>;
      warnings: Array<{ code: string; message: string }>;
    };
    const sub = doc.steps.find((s) => s.address === 'subscription.kinds_sub')!;
    for (const k of KINDS) {
      const step = doc.steps.find((s) => s.address === `table.west/${printed(k.table)}`);
      if (!k.ddl) {
        expect(step, k.table).toBeUndefined();
        continue;
      }
      expect(step, k.table).toBeDefined();
      expect(step!.action).toBe('sync-schema');
      expect(step!.sql.join('\n'), k.table).toMatch(k.ddl);
      for (const h of k.hazards ?? []) expect(step!.hazards, k.table).toContain(h);
      expect(sub.dependsOn, k.table).toContain(step!.id);
    }
    const create = doc.steps.find((s) => s.address === 'table.west/public.k_missing')!.sql.join('\n');
    expect(create).toContain('CREATE SEQUENCE "public"."k_missing_id_seq" AS bigint');
    expect(create).toContain(`DEFAULT nextval('public.k_missing_id_seq'::regclass)`);
    expect(create).toContain('"n" integer GENERATED ALWAYS AS IDENTITY');
    expect(create).toContain('"twice" integer GENERATED ALWAYS AS ((qty * 2)) STORED');
    expect(create).toContain('"mood" public.k_mood');
    expect(create).toContain('PRIMARY KEY ("id")');
    expect(create).toContain('ALTER SEQUENCE "public"."k_missing_id_seq" OWNED BY "public"."k_missing"."id"');
    expect(doc.warnings.some((w) => w.code === 'schema.extra-column' && w.message.includes('column c'))).toBe(
      true,
    );

    const applied = await steep(
      [
        'apply',
        '--auto-approve',
        ...['rewrites-table', 'data-gap'].flatMap((h) => ['--allow-hazard', h]),
        '--log-format',
        'json',
      ],
      path,
    );
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const events = applied.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; table?: string });
    expect(events.some((e) => e.event === 'schema.mismatch_detected' && e.table === 'public.k_add')).toBe(
      true,
    );
    expect(events.some((e) => e.event === 'schema.sync_applied' && e.table === 'public.k_missing')).toBe(
      true,
    );

    // both only read the nodes: at once
    const [replan, compare] = await Promise.all([
      steep(['plan', '--detailed-exitcode'], path),
      steep(['schema', 'compare', 'east', 'west', '--json'], path),
    ]);
    expect(replan.code, replan.stdout).toBe(0);
    expect(replan.stdout).toContain('No changes');

    const after = new Map(
      (
        JSON.parse(compare.stdout) as {
          tables: Array<{ table: string; status: string; columns: Array<{ kind: string }> }>;
        }
      ).tables.map((t) => [t.table, t]),
    );
    for (const k of KINDS) {
      const t = after.get(printed(k.table))!;
      expect(t.status, k.table).toBe(k.after);
      // what stays a mismatch is only the subscriber's extra column, kept by design
      if (t.status === 'MISMATCH')
        expect(
          t.columns.every((c) => c.kind === 'extra'),
          k.table,
        ).toBe(true);
    }

    const [east, west] = nodes();
    await eventually(
      async () =>
        (
          await west.query<{ srsubstate: string }>(
            "SELECT srsubstate FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = 'kinds_sub'",
          )
        ).every((r) => r.srsubstate === 'r'),
      HANG_MS,
      'tables synchronised',
    );
    for (const k of KINDS) await east.query(`INSERT INTO ${k.table} ${k.row}`);
    for (const k of KINDS) {
      await eventually(
        async () => (await west.query(`SELECT 1 FROM ${k.table}`)).length === 1,
        HANG_MS,
        `a row in ${k.table} on west`,
      );
    }
    const [row] = await west.query<{ mood: string; qty: number; twice: number; note: string }>(
      'SELECT mood::text, qty, twice, note FROM public.k_missing',
    );
    expect(row).toEqual({ mood: 'happy', qty: 3, twice: 6, note: 'n/a' });
  });
  test('auto: a column renamed on the publisher under writes is renamed on the subscriber; every row keeps its values', async () => {
    const [east, west] = nodes();
    const DDL =
      'CREATE TABLE public.r_ren (id int PRIMARY KEY, a text NOT NULL, qty int DEFAULT 0 NOT NULL, note text)';
    await east.query(DDL);
    await west.query(DDL);
    const path = config('auto', { tables: ['public.r_ren'], topology: 'schema-rename', name: 'ren' });
    const insert = (from: number, to: number, col: string) =>
      east.query(
        `INSERT INTO public.r_ren (id, a, ${col}, note) SELECT g, 'a' || g, g * 10, 'n' || g FROM generate_series(${from}, ${to}) g`,
      );
    const checksum = (n: TestNode, col: string) =>
      n.query<{ n: number; sum: string }>(
        `SELECT count(*)::int AS n, md5(string_agg(id || ':' || a || ':' || ${col} || ':' || coalesce(note, '-'), ',' ORDER BY id)) AS sum FROM public.r_ren`,
      );
    try {
      const first = await steep(['apply', '--auto-approve'], path);
      expect(first.code, first.stderr).toBe(0);
      await insert(1, 20, 'qty');
      await eventually(async () => (await checksum(west, 'qty'))[0]!.n === 20, HANG_MS, '20 rows on west');
      // renamed on the publisher while rows keep coming: west's apply worker stops on the missing column
      await east.query('ALTER TABLE public.r_ren RENAME COLUMN qty TO amount');
      await insert(21, 40, 'amount');
      const manual = await steep(
        ['plan'],
        config('manual', { tables: ['public.r_ren'], topology: 'schema-rename', name: 'ren' }),
      );
      expect(manual.code, manual.stdout).toBe(1);
      expect(manual.stderr).toContain('ALTER TABLE "public"."r_ren" RENAME COLUMN "qty" TO "amount"');
      // west applied every change from before the rename before it stopped on the first one after
      expect(manual.stderr).toContain(
        '(has it? yes: no change still to apply names qty (read on east up to ',
      );
      const manualApply = await steep(
        ['apply', '--auto-approve', '--accept-schema-drift'],
        config('manual', { tables: ['public.r_ren'], topology: 'schema-rename', name: 'ren' }),
      );
      expect(manualApply.code).toBe(1);
      expect(manualApply.stdout).not.toContain('No changes');
      expect(manualApply.stderr).toContain('RENAME COLUMN "qty" TO "amount"');

      const plan = await steep(['plan', '--json'], path);
      expect(plan.code, plan.stderr).toBe(0);
      const doc = JSON.parse(plan.stdout) as { steps: Array<{ address: string; sql: string[] }> };
      const step = doc.steps.find((x) => x.address === 'table.west/public.r_ren')!;
      expect(step.sql).toEqual(['ALTER TABLE "public"."r_ren" RENAME COLUMN "qty" TO "amount"']);
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      await insert(41, 60, 'amount');
      await eventually(async () => (await checksum(west, 'amount'))[0]!.n === 60, HANG_MS, '60 rows on west');
      expect(await checksum(west, 'amount')).toEqual(await checksum(east, 'amount'));
      const [row] = await west.query('SELECT amount FROM public.r_ren WHERE id = 30');
      expect(row).toEqual({ amount: 300 });
      expect(
        await west.query(
          "SELECT attname FROM pg_attribute WHERE attrelid = 'public.r_ren'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        ),
      ).toEqual([{ attname: 'id' }, { attname: 'a' }, { attname: 'amount' }, { attname: 'note' }]);
      const replan = await steep(['plan', '--detailed-exitcode'], path);
      expect(replan.code, replan.stdout).toBe(0);
    } finally {
      const down = await steep(
        ['apply', '--auto-approve', '--allow-destroy'],
        writeConfig(`version: 1\ntopology: schema-rename\n${nodesYaml(nodes())}\n`),
      );
      expect(down.code, down.stderr).toBe(0);
    }
  });

  // west lags behind east's rename: its apply worker waits for a lock, or its subscription is disabled
  test.each(['lock', 'disabled'] as const)(
    'auto: a column renamed on the publisher while the subscriber lags (%s) is renamed only once the changes from before the rename are applied; no acknowledged row is lost',
    async (lag) => {
      const [east, west] = nodes();
      await east.query('DROP TABLE IF EXISTS public.r_lag');
      await west.query('DROP TABLE IF EXISTS public.r_lag');
      const DDL =
        'CREATE TABLE public.r_lag (id int PRIMARY KEY, a text NOT NULL, qty int DEFAULT 0 NOT NULL)';
      await east.query(DDL);
      await west.query(DDL);
      const opts = { tables: ['public.r_lag'], topology: 'schema-rename-lag', name: 'lag' };
      const path = config('auto', opts);
      // an application writing one row per transaction, each id acknowledged once its COMMIT returned;
      // its INSERT names the column as it is now (qty, then amount once the rename is in)
      const acked: number[] = [];
      let column = 'qty';
      let next = 1;
      const stopWriter = writeLoop(
        () => 'east',
        () => east.client(),
        async (c) => {
          const id = next++;
          await c.query(
            `INSERT INTO public.r_lag (id, a, ${column}) VALUES ($1::int, 'a' || $1::int, $1::int * 10)`,
            [id],
          );
          acked.push(id);
        },
        (code) => {
          if (code === '42703') column = column === 'qty' ? 'amount' : 'qty';
        },
      );
      const count = async (n: TestNode) =>
        (await n.query<{ n: number }>('SELECT count(*)::int AS n FROM public.r_lag'))[0]!.n;
      const columnsOf = async (n: TestNode) =>
        (
          await n.query<{ attname: string }>(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.r_lag'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
          )
        ).map((r) => r.attname);
      // apply waits for them, up to the step's statement timeout, then renames nothing; it waits,
      // saying so, and renames once west catches up as the lock goes
      const waitThenRename = async () => {
        const refused = await steep(
          ['apply', '--auto-approve'],
          config('auto', { ...opts, settings: 'statementTimeout: 3s' }),
        );
        expect(refused.code, refused.stdout).toBe(1);
        expect(refused.stderr).toContain(
          'not renamed, as not yet west has applied every change of public.r_lag',
        );
        expect(await columnsOf(west)).toEqual(['id', 'a', 'qty']);

        // with no replication slot free on east, steep cannot read what west has still to apply: unknown, never renamed
        await east.query(
          "SELECT pg_create_physical_replication_slot('r_lag_fill_' || g) FROM generate_series(1, (SELECT setting::int FROM pg_settings WHERE name = 'max_replication_slots') - (SELECT count(*)::int FROM pg_replication_slots)) g",
        );
        const unknown = await steep(['plan', '--json'], path);
        const unknownStep = (
          JSON.parse(unknown.stdout) as { steps: Array<{ address: string; reasonText: string }> }
        ).steps.find((x) => x.address === 'table.west/public.r_lag')!;
        expect(unknownStep.reasonText).toMatch(
          /unknown: reading east's pending changes failed: .*replication slots/,
        );
        const unproved = await steep(['apply', '--auto-approve'], path);
        expect(unproved.code, unproved.stdout).toBe(1);
        expect(unproved.stderr).toContain(
          'steep cannot prove that west has applied every change of public.r_lag',
        );
        await east.query(
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'r_lag_fill_%'",
        );
        expect(await columnsOf(west)).toEqual(['id', 'a', 'qty']);

        // apply waits, saying so; west catches up once the lock goes; then the column is renamed
        const applying = startSteep(
          ['apply', '--auto-approve', '--log-format', 'json', '-c', path],
          passwordEnv(nodes()),
        );
        await applying.when(
          (e) => e.event === 'apply.step_waiting' && e.address === 'table.west/public.r_lag',
        );
        await holder.query('COMMIT');
        const applied = await applying.exited;
        expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      };
      const holder = await west.client();
      try {
        const first = await steep(['apply', '--auto-approve'], path);
        expect(first.code, first.stderr).toBe(0);
        await eventually(async () => (await count(west)) >= 20, HANG_MS, 'rows replicating to west');
        if (lag === 'disabled') await west.query('ALTER SUBSCRIPTION lag_sub DISABLE');
        else {
          await holder.query('BEGIN');
          await holder.query('LOCK TABLE public.r_lag IN SHARE MODE');
        }
        const lagFrom = acked.length;
        await eventually(async () => acked.length >= lagFrom + 30, HANG_MS, 'rows written while west lags');
        await east.query('ALTER TABLE public.r_lag RENAME COLUMN qty TO amount');
        const renamedAt = acked.length;
        await eventually(
          async () => acked.length >= renamedAt + 30,
          HANG_MS,
          'rows written after the rename',
        );

        // the plan renames, and says west has not applied the changes from before the rename yet
        const plan = await steep(['plan', '--json'], path);
        expect(plan.code, plan.stderr).toBe(0);
        const doc = JSON.parse(plan.stdout) as {
          steps: Array<{
            id: string;
            address: string;
            sql: string[];
            reasonText: string;
            dependsOn: string[];
            renamedAfter?: unknown;
          }>;
        };
        const step = doc.steps.find((x) => x.address === 'table.west/public.r_lag')!;
        expect(step.sql).toEqual(['ALTER TABLE "public"."r_lag" RENAME COLUMN "qty" TO "amount"']);
        expect(step.renamedAfter).toEqual({ subscription: 'lag_sub', table: 'public.r_lag', column: 'qty' });
        expect(step.reasonText).toContain(
          '(has it? not yet: changes still to apply name qty (read on east up to ',
        );
        if (lag === 'disabled') {
          // the ENABLE goes first: the worker applies the changes from before the rename, then it is renamed;
          // a saved plan's apply checks that as apply's own plan does
          const enable = doc.steps.find((x) => x.address === 'subscription.lag_sub')!;
          expect(step.dependsOn).toContain(enable.id);
          const saved = `${path}.plan.json`;
          expect((await steep(['plan', '--out', saved], path)).code).toBe(0);
          const applied = await steep(['apply', saved], path);
          expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
        }

        if (lag === 'lock') await waitThenRename();
        expect(await columnsOf(west)).toEqual(['id', 'a', 'amount']);
        const appliedAt = acked.length;
        await eventually(async () => acked.length >= appliedAt + 30, HANG_MS, 'rows written after the apply');
        await stopWriter();
        const total = acked.length;
        await eventually(async () => (await count(west)) === (await count(east)), HANG_MS, 'west caught up');
        const sum = (n: TestNode) =>
          n.query<{ n: number; sum: string }>(
            "SELECT count(*)::int AS n, md5(string_agg(id || ':' || a || ':' || amount, ',' ORDER BY id)) AS sum FROM public.r_lag",
          );
        expect(await sum(west)).toEqual(await sum(east));
        const present = new Set(
          (await west.query<{ id: number }>('SELECT id FROM public.r_lag')).map((r) => r.id),
        );
        const lost = acked.filter((id) => !present.has(id));
        console.log(
          `PG${version} rename under lag (${lag}): ${total} acknowledged (${renamedAt - lagFrom} while west lagged before the rename), ${lost.length} lost`,
        );
        expect(lost).toEqual([]);
        // every row's value is in the renamed column
        expect(
          await west.query("SELECT id FROM public.r_lag WHERE amount <> id * 10 OR a <> 'a' || id"),
        ).toEqual([]);
        const replan = await steep(['plan', '--detailed-exitcode'], path);
        expect(replan.code, replan.stdout).toBe(0);
      } finally {
        await stopWriter();
        await holder.query('ROLLBACK').catch(() => {});
        await holder.end();
        const down = await steep(
          ['apply', '--auto-approve', '--allow-destroy'],
          writeConfig(`version: 1\ntopology: schema-rename-lag\n${nodesYaml(nodes())}\n`),
        );
        expect(down.code, down.stderr).toBe(0);
      }
    },
  );
  // torture seed 483 on 17 (issue 61): with disable_on_error, the first change after a rename
  // disables the subscription; renamed again before it is enabled, apply waited 600 s on it
  test('auto + disableOnError: a rename while PostgreSQL keeps the subscription disabled is refused at once with the ENABLE that lets it proceed; followed literally, every acknowledged row arrives', async () => {
    const [east, west] = nodes();
    if (version < 15) return; // disable_on_error is 15+
    for (const n of [east, west]) {
      await n.query('DROP TABLE IF EXISTS public.r_doe');
      await n.query(
        'CREATE TABLE public.r_doe (id int PRIMARY KEY, a text NOT NULL, qty int DEFAULT 0 NOT NULL)',
      );
    }
    const path = config('auto', {
      tables: ['public.r_doe'],
      topology: 'schema-rename-doe',
      name: 'doe',
      lines: ['    options:', '      disableOnError: true'],
    });
    const acked: number[] = [];
    let next = 1;
    // the application names no renamed column: qty keeps its default, the rows are told apart by id
    const stopWriter = writeLoop(
      () => 'east',
      () => east.client(),
      async (c) => {
        const id = next++;
        await c.query("INSERT INTO public.r_doe (id, a) VALUES ($1::int, 'a' || $1::int)", [id]);
        acked.push(id);
      },
      () => {},
    );
    const enabled = async () =>
      (
        await west.query<{ on: boolean }>(
          "SELECT subenabled AS on FROM pg_subscription WHERE subname = 'doe_sub'",
        )
      )[0]?.on;
    const columnsOf = async (n: TestNode) =>
      (
        await n.query<{ attname: string }>(
          "SELECT attname FROM pg_attribute WHERE attrelid = 'public.r_doe'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        )
      ).map((r) => r.attname);
    const writes = (n: number, what: string) => {
      const from = acked.length;
      return eventually(async () => acked.length >= from + n, HANG_MS, `${n} rows written ${what}`);
    };
    try {
      const first = await steep(['apply', '--auto-approve'], path);
      expect(first.code, first.stderr).toBe(0);
      await writes(20, 'first');
      // the first change after the rename reaches west without its column: PostgreSQL disables doe_sub
      await east.query('ALTER TABLE public.r_doe RENAME COLUMN qty TO amount');
      await writes(20, 'after the rename');
      await eventually(async () => (await enabled()) === false, HANG_MS, 'PostgreSQL to disable doe_sub');
      // west applied every change from before it: renamed; the subscription stays PostgreSQL's to enable
      const renamed = await steep(['apply', '--auto-approve'], path);
      expect(renamed.code, `${renamed.stdout}\n${renamed.stderr}`).toBe(0);
      expect(await columnsOf(west)).toEqual(['id', 'a', 'amount']);
      // renamed again before anyone enables it: the changes naming amount are never applied while it is disabled
      await east.query('ALTER TABLE public.r_doe RENAME COLUMN amount TO total');
      await writes(20, 'after the second rename');
      const t0 = Date.now();
      // (killed at 120 s: before the fix it waited 600 s on the disabled subscription)
      const refused = await steep(['apply', '--auto-approve'], path);
      expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(refused.stderr).toContain('doe_sub on west is disabled, so it applies nothing');
      expect(await columnsOf(west)).toEqual(['id', 'a', 'amount']);
      // the way out as printed: ENABLE on west; it applies the changes naming amount and stops at total's
      const enable = /run (ALTER SUBSCRIPTION \S+ ENABLE) on west/.exec(refused.stderr);
      expect(enable, refused.stderr).not.toBeNull();
      await west.query(enable![1]!);
      await eventually(
        async () => (await enabled()) === false,
        HANG_MS,
        'PostgreSQL to disable doe_sub again',
      );
      const second = await steep(['apply', '--auto-approve'], path);
      expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(await columnsOf(west)).toEqual(['id', 'a', 'total']);
      // status names the ENABLE that resumes it (its cause, the missing column, is gone): followed
      const status = await steep(['status', '--check'], path);
      expect(status.code, status.stdout).toBe(2);
      const resume = /run (ALTER SUBSCRIPTION \S+ ENABLE) on west/.exec(status.stdout);
      expect(resume, status.stdout).not.toBeNull();
      await west.query(resume![1]!);
      await writes(20, 'after the way out');
    } finally {
      await stopWriter();
    }
    await eventually(
      async () => {
        const [w] = await west.query<{ n: number }>('SELECT count(*)::int AS n FROM public.r_doe');
        return w!.n === acked.length;
      },
      HANG_MS,
      'west to hold every acknowledged row',
    );
    const sum = (n: TestNode) =>
      n.query(
        "SELECT count(*)::int AS n, md5(string_agg(id || ':' || a || ':' || total, ',' ORDER BY id)) AS sum FROM public.r_doe",
      );
    expect(await sum(west)).toEqual(await sum(east));
    console.log(`PG${version} renames under disable_on_error: ${acked.length} acknowledged, 0 lost`);
    const down = await steep(
      ['apply', '--auto-approve', '--allow-destroy'],
      writeConfig(`version: 1\ntopology: schema-rename-doe\n${nodesYaml(nodes())}\n`),
    );
    expect(down.code, down.stderr).toBe(0);
  }, 600_000);
});
