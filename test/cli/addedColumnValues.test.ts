import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digestsByName, idsMissing, queryDigest, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A column added on the publisher and added to the subscriber by schema sync (`schemaSync: auto`):
 * the rows the subscriber holds get their value from its ADD COLUMN, never from the stream.
 * `DEFAULT now()` gave them the subscriber's own time (300 rows different, status
 * `synchronized`, drift silent: only a verify found it); the step now adds the column with the
 * value PostgreSQL kept for the publisher's old rows, then gives it the publisher's default. A
 * volatile default (`random()`), whose values no catalog keeps, is gated `data-gap`: refused
 * without it, remembered as a `gap` once allowed, and the printed way out converges. Under an
 * id-logging writer on the publisher throughout; ends with no acknowledged id lost and both
 * tables equal, column by column.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'added_app', password: 'added-app-secret-1' };
const SUB = 'items_sub';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(): string {
  return writeConfig(
    [
      'version: 1',
      'topology: added-column',
      nodesYaml(cluster().nodes),
      'publications:',
      '  items_pub:',
      '    node: east',
      '    tables: [public.items]',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [items_pub]',
      '    schemaSync: auto',
      '',
    ].join('\n'),
  );
}

async function state(): Promise<{ state: string; text: string }> {
  const r = await steep(['status', '--json']);
  const subs = (JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> })
    .subscriptions;
  return { state: subs.find((s) => s.name === SUB)!.state, text: r.stdout };
}

/**
 * Status until the subscription is `want` (`failing` first where the worker stopped on a column
 * west lacked until the sync added it, until the errors stop rising); its JSON.
 */
async function untilState(want: string): Promise<string> {
  let last = await state();
  await eventually(
    async () => {
      last = await state();
      return last.state === want;
    },
    HANG_MS,
    `status ${want}`,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; it says ${last.state}:\n${last.text}`);
  });
  return last.text;
}

describe('a column schema sync adds to a subscriber table that holds rows', () => {
  it("gets the publisher's value where PostgreSQL kept it, else is gated data-gap", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query(
        'CREATE TABLE public.items (id bigserial PRIMARY KEY, v text NOT NULL DEFAULT md5(random()::text))',
      );
      await n.query(`GRANT SELECT, INSERT ON public.items TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.items_id_seq TO ${APP.user}`);
    }
    await east.query('INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 300) g');
    path = config();
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

    const writer = startIdWriter({ east }, APP, 'public.items', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    // the rows east holds now, on both nodes, column by column (the writer goes on)
    const sameUpToNow = async () => {
      const [top] = await east.query<{ id: string }>('SELECT max(id)::text AS id FROM public.items');
      await waitCaughtUp(east, SUB);
      const rows = `SELECT * FROM public.items WHERE id <= ${top!.id}`;
      expect(await queryDigest(west, rows)).toEqual(await queryDigest(east, rows));
    };
    const more = async (what: string) => {
      const at = acked().length;
      await eventually(async () => acked().length > at + 20, HANG_MS, what);
    };
    try {
      await more('writes on east');
      // a stable default: PostgreSQL evaluates it once and keeps the value for the rows it was added over
      await east.query('ALTER TABLE public.items ADD COLUMN created timestamptz NOT NULL DEFAULT now()');
      await east.query(`ALTER TABLE public.items ADD COLUMN meta jsonb NOT NULL DEFAULT '{"since": "add"}'`);
      await more('writes after the first ADD COLUMN');
      const plan = await steep(['plan']);
      const planned = plan.stdout + plan.stderr;
      expect(planned).not.toContain('data-gap');
      expect(planned).toMatch(
        /ADD COLUMN "created" timestamp with time zone DEFAULT '\d{4}-[^']+'::timestamp with time zone NOT NULL/,
      );
      expect(planned).toContain('ALTER COLUMN "created" SET DEFAULT now()');
      expect(planned).toContain(`ADD COLUMN "meta" jsonb DEFAULT '{"since": "add"}'::jsonb NOT NULL`);
      const synced = await steep(['apply', '--auto-approve']);
      expect(synced.code, `${synced.stdout}\n${synced.stderr}`).toBe(0);
      await more('writes after the sync');
      await sameUpToNow();

      // a default given after the ADD: no value kept, gated; apply compares the table after its
      // sync, and the old rows (NULL on both sides: added NULL, then the default) close the gap
      await east.query('ALTER TABLE public.items ADD COLUMN note text');
      await east.query("ALTER TABLE public.items ALTER COLUMN note SET DEFAULT 'n/a'");
      await more('writes after the third ADD COLUMN');
      const noted = await steep(['plan']);
      expect(noted.stdout + noted.stderr).toMatch(
        /column note is added to public\.items on west with 'n\/a'::text/,
      );
      const equal = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
      expect(equal.code, `${equal.stdout}\n${equal.stderr}`).toBe(0);
      await more('writes after the note sync');
      await sameUpToNow();
      await untilState('synchronized');

      // a volatile default: every row its own value, which no catalog keeps
      await east.query('ALTER TABLE public.items ADD COLUMN score float8 DEFAULT random()');
      await more('writes after the second ADD COLUMN');
      const gated = await steep(['plan']);
      const said = gated.stdout + gated.stderr;
      expect(said).toContain('hazard data-gap');
      expect(said).toMatch(/column score is added to public\.items on west with random\(\)/);
      expect(said).toContain(`steep reinit ${SUB} --tables public.items`);
      const refused = await steep(['apply', '--auto-approve']);
      expect(refused.code, refused.stdout + refused.stderr).not.toBe(0);
      expect(refused.stdout + refused.stderr).toContain('--allow-hazard data-gap');
      expect(
        await west.query(
          "SELECT 1 FROM pg_attribute WHERE attrelid = 'public.items'::regclass AND attname = 'score'",
        ),
      ).toHaveLength(0);
      // not waited for: the gap stands until a copy or a verify
      const allowed = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap', '--no-wait']);
      expect(allowed.code, `${allowed.stdout}\n${allowed.stderr}`).toBe(0);
      await more('writes after the allowed sync');
      await waitCaughtUp(east, SUB);
      const gap = await untilState('gap');
      expect(gap).toContain('column score was added to public.items on west by schema sync');
      const check = await steep(['status', '--check']);
      expect(check.code, check.stdout).toBe(2);
      expect((await steep(['drift'])).code).toBe(2);

      // waited for: apply compares the table and finds the old rows' values different
      await east.query('ALTER TABLE public.items ADD COLUMN tag uuid DEFAULT gen_random_uuid()');
      await more('writes after the fourth ADD COLUMN');
      const compared = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
      expect(compared.code, compared.stdout).not.toBe(0);
      expect(compared.stdout + compared.stderr).toMatch(
        /public\.items \(missing 0, extra 0, different [1-9]\d*\)[\s\S]*steep reinit items_sub --tables public\.items/,
      );
      await untilState('diverged');

      // the way out, as printed (confirmed as a terminal would)
      const reinit = await steep(['reinit', SUB, '--tables', 'public.items', '--auto-approve']);
      expect(reinit.code, `${reinit.stdout}\n${reinit.stderr}`).toBe(0);
      await more('writes after the copy');
      await writer.stop();
      await waitCaughtUp(east, SUB);
      const lost = await idsMissing(west, 'public.items', acked());
      console.log(`added columns: acknowledged ${acked().length}, missing on west ${lost}`);
      expect(lost).toBe(0);
      expect(await digestsByName(west, ['items'])).toEqual(await digestsByName(east, ['items']));
      await untilHealthy(steep);
      expect((await state()).state).toBe('synchronized');
      const verify = await steep(['verify', SUB]);
      expect(verify.code, verify.stdout).toBe(0);
    } finally {
      await writer.stop();
    }
  }, 900_000);
});
