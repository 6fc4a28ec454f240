import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digestsByName, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Column identity (docs/steep-yaml.md, "A renamed column"; docs/status.md, `gap`): PostgreSQL
 * maps a subscriber's columns by name, so a publisher that gives a name to another column
 * (two columns swapped in one transaction, a rename followed by a new column with the old name,
 * a column dropped and added again) sends rows into the subscriber's column of that name while
 * the old rows keep the old column's values there. steep compares the publisher's attnum of each
 * name with the baseline it recorded: status, status --check and drift say `gap` naming the
 * table, plan refuses to call it harmless or to add a column with made-up values, and the way
 * out printed, followed literally under an id-logging writer, ends equal column by column. A
 * subscriber whose column order differs from the start (made by hand) stays green.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'colid_app', password: 'colid-app-secret-1' };
const SUB = 'col_sub';
const TABLES = ['t_swap', 't_rename', 't_drop', 't_order'];
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(): string {
  return writeConfig(
    [
      'version: 1',
      'topology: column-identity',
      nodesYaml(cluster().nodes),
      'publications:',
      '  col_pub:',
      '    node: east',
      '    tables: [public.t_swap, public.t_rename, public.t_drop, public.t_order]',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [col_pub]',
      '    schemaSync: auto',
      '',
    ].join('\n'),
  );
}

describe('column identity on the publisher (18)', () => {
  it('swap, rename + add, drop + add: gap until the printed way out copies them; another order from the start stays green', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query(
        "CREATE TABLE public.t_swap (id bigserial PRIMARY KEY, v text, a text DEFAULT 'A', b text DEFAULT 'B')",
      );
      await n.query(
        'CREATE TABLE public.t_rename (id bigint PRIMARY KEY, c text DEFAULT md5(random()::text))',
      );
      await n.query('CREATE TABLE public.t_drop (id bigint PRIMARY KEY, c text)');
      await n.query(`GRANT SELECT, INSERT ON public.t_swap TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.t_swap_id_seq TO ${APP.user}`);
    }
    // made by hand on west with another column order: the same columns, no change since
    await east.query('CREATE TABLE public.t_order (id bigint PRIMARY KEY, x text, y text)');
    await west.query('CREATE TABLE public.t_order (id bigint PRIMARY KEY, y text, x text)');
    await east.query(
      "INSERT INTO public.t_swap (v, a, b) SELECT 'v' || g, 'a' || g, 'b' || g FROM generate_series(1, 2000) g",
    );
    await east.query("INSERT INTO public.t_rename SELECT g, 'c' || g FROM generate_series(1, 300) g");
    await east.query("INSERT INTO public.t_drop SELECT g, 'c' || g FROM generate_series(1, 300) g");
    await east.query(
      "INSERT INTO public.t_order SELECT g, 'x' || g, 'y' || g FROM generate_series(1, 300) g",
    );
    path = config();
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    // the first reading after the copy records the publisher's column identity (the baseline)
    await untilHealthy(steep);
    const drift0 = await steep(['drift']);
    expect(drift0.code, drift0.stdout).toBe(0);

    const writer = startIdWriter({ east }, APP, 'public.t_swap', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked().length > 20, HANG_MS, 'writes on east');
      // the subscriber lags a little while the publisher changes its columns
      await west.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`);
      await east.query(
        'BEGIN; ALTER TABLE public.t_swap RENAME a TO tmp; ALTER TABLE public.t_swap RENAME b TO a; ALTER TABLE public.t_swap RENAME tmp TO b; COMMIT',
      );
      await west.query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
      // the swap alone: the apply worker runs on, the subscription is a gap (not failing)
      type Json = {
        subscriptions: Array<{ name: string; state: string; verdict: { reasons: string[] } | null }>;
      };
      let seen = '';
      const gapNow = async () => {
        const r = await steep(['status', '--json']);
        const sub = (JSON.parse(r.stdout) as Json).subscriptions.find((x) => x.name === SUB);
        seen = `${sub?.state}: ${sub?.verdict?.reasons.join('; ')}`;
        return sub?.state === 'gap';
      };
      // (once the worker enabled again runs: right after ENABLE status may say unknown)
      await eventually(gapNow, HANG_MS, 'the swap to make the subscription gap').catch(() => {});
      expect.soft(seen).toMatch(/^gap: columns a and b of public\.t_swap were swapped on east/);
      await west.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`);
      await east.query('ALTER TABLE public.t_rename RENAME c TO c_old');
      await east.query("ALTER TABLE public.t_rename ADD COLUMN c text DEFAULT 'new'");
      await east.query('INSERT INTO public.t_rename (id) SELECT g FROM generate_series(301, 320) g');
      await east.query('ALTER TABLE public.t_drop DROP COLUMN c');
      await east.query("ALTER TABLE public.t_drop ADD COLUMN c text DEFAULT 'd'");
      await east.query('INSERT INTO public.t_drop (id) SELECT g FROM generate_series(301, 320) g');
      await west.query(`ALTER SUBSCRIPTION ${SUB} ENABLE`);
      const changed = acked().length;
      await eventually(async () => acked().length > changed + 30, HANG_MS, 'writes after the change');

      const check = await steep(['status', '--check']);
      console.log(`status --check after the changes:\n${check.stdout}\n${check.stderr}`);
      expect.soft(check.code, check.stdout).toBe(2);
      for (const t of ['t_swap', 't_rename', 't_drop'])
        expect.soft(check.stdout, `status --check names ${t}`).toContain(`public.${t}`);
      expect.soft(check.stdout).toMatch(/columns? a and b of public\.t_swap .*swapped/);
      expect.soft(check.stdout).not.toContain('public.t_order');
      const drift = await steep(['drift']);
      expect.soft(drift.code, drift.stdout).toBe(2);
      expect.soft(drift.stdout).toContain('public.t_swap');
      const plan = await steep(['plan']);
      const planned = plan.stdout + plan.stderr;
      expect.soft(planned).not.toContain('No changes');
      expect.soft(planned).not.toMatch(/t_swap[^\n]*harmless/);
      expect.soft(planned).not.toMatch(/ADD COLUMN "?c_old"? text DEFAULT/);
      expect.soft(planned).toContain('public.t_swap');
      // apply refuses rather than adding c_old with made-up values
      const refused = await steep(['apply', '--auto-approve']);
      expect.soft(refused.code, refused.stdout).not.toBe(0);
      expect
        .soft(
          await west.query(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 't_rename' AND column_name = 'c_old'",
          ),
        )
        .toEqual([]);

      // the way out as printed, followed literally (SQL on west first, where printed)
      const after = check;
      // (printed twice: in the subscription's reasons and in the Check line)
      const adds = new Set(
        [...after.stdout.matchAll(/run `(ALTER TABLE [^`]+)` on west/g)].map((m) => m[1]!),
      );
      expect(adds.size, after.stdout).toBe(1);
      for (const sql of adds) await west.query(sql);
      const way = /`(steep reinit [^`]+)`/.exec(after.stdout)?.[1];
      expect(way, after.stdout).toBe(
        `steep reinit ${SUB} --tables public.t_drop,public.t_rename,public.t_swap`,
      );
      const ran = await steep([...way!.replace(/^steep /, '').split(' '), '--auto-approve']);
      expect(ran.code, `${ran.stdout}\n${ran.stderr}`).toBe(0);
      await untilHealthy(steep);
      // what the copy leaves to schema sync (c_old's default) is a plain plan now
      const synced = await steep(['apply', '--auto-approve']);
      expect(synced.code, `${synced.stdout}\n${synced.stderr}`).toBe(0);
      await eventually(async () => acked().length > changed + 100, HANG_MS, 'writes after the way out');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const lost = await idsMissing(west, 'public.t_swap', acked());
    console.log(`acknowledged ${acked().length}, missing on west ${lost}`);
    expect(await digestsByName(west, TABLES)).toEqual(await digestsByName(east, TABLES));
    expect(lost).toBe(0);
    const healthy = await steep(['status', '--check']);
    expect(healthy.code, healthy.stdout).toBe(0);
    expect((await steep(['drift'])).code).toBe(0);
  }, 300_000);
});
