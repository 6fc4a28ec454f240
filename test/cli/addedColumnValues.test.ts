import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { queryDigest, waitCaughtUp } from '../support/replicationData.js';

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
const SUB = ITEMS_SUB;
const { steep, setUp, startWriter, untilState, appliedDiverged, reinitConverges } = itemsPair(cluster, {
  topology: 'added-column',
  app: APP,
});

describe('a column schema sync adds to a subscriber table that holds rows', () => {
  it("gets the publisher's value where PostgreSQL kept it, else is gated data-gap", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL DEFAULT md5(random()::text)',
      'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 300) g',
    );

    const writer = startWriter();
    const { more } = writer;
    // the rows east holds now, on both nodes, column by column (the writer goes on)
    const sameUpToNow = async () => {
      const [top] = await east.query<{ id: string }>('SELECT max(id)::text AS id FROM public.items');
      await waitCaughtUp(east, SUB);
      const rows = `SELECT * FROM public.items WHERE id <= ${top!.id}`;
      expect(await queryDigest(west, rows)).toEqual(await queryDigest(east, rows));
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
      await appliedDiverged(['--allow-hazard', 'data-gap']);

      // the way out, as printed (confirmed as a terminal would)
      await reinitConverges(writer, 'added columns');
    } finally {
      await writer.stop();
    }
  }, 900_000);
});
