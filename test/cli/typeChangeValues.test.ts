import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { queryDigest, waitCaughtUp } from '../support/replicationData.js';

/**
 * A column's type changed on the publisher and on the subscriber by schema sync (`schemaSync:
 * auto`): the subscriber's rows are converted by its own `ALTER COLUMN … TYPE … USING c::type`,
 * never by the stream, so they equal the publisher's only where its ALTER converted them the same
 * way. `USING price / 100.0` on the publisher left every old row on the subscriber 100 times the
 * publisher's, status `synchronized`, drift silent: only a verify found it. The step is now gated
 * `data-gap` and apply compares the table after it: equal (int to bigint) closes the gap, rows
 * that differ fail the apply with the copy that mends them, and that copy converges. Under an
 * id-logging writer on the publisher throughout; ends with no acknowledged id lost and both tables
 * equal, column by column.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'retype_app', password: 'retype-app-secret-1' };
const SUB = ITEMS_SUB;
const { steep, setUp, startWriter, expectGated, untilState, appliedDiverged, reinitConverges } = itemsPair(
  cluster,
  {
    topology: 'type-change',
    app: APP,
  },
);
const GATES = ['--allow-hazard', 'rewrites-table', '--allow-hazard', 'data-gap'];

describe("a column's type schema sync changes on a subscriber table that holds rows", () => {
  it('is gated data-gap, and apply compares the table after it', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL, price int NOT NULL DEFAULT 100',
      'INSERT INTO public.items (v, price) SELECT md5(g::text), g FROM generate_series(1, 300) g',
    );

    const writer = startWriter();
    const { more } = writer;
    try {
      await more('writes on east');
      // the cast schema sync uses: the old rows are the publisher's; the comparison says so
      await east.query('ALTER TABLE public.items ALTER COLUMN price TYPE bigint');
      await more('writes after the first type change');
      const planned = await expectGated(/the type of column price of public\.items is changed on west/, [
        '--allow-hazard',
        'rewrites-table',
      ]);
      expect(planned).toContain('ALTER COLUMN "price" TYPE bigint USING "price"::bigint');
      const equal = await steep(['apply', '--auto-approve', ...GATES]);
      expect(equal.code, `${equal.stdout}\n${equal.stderr}`).toBe(0);
      await more('writes after the first sync');
      const [top] = await east.query<{ id: string }>('SELECT max(id)::text AS id FROM public.items');
      await waitCaughtUp(east, SUB);
      const upTo = `SELECT * FROM public.items WHERE id <= ${top!.id}`;
      expect(await queryDigest(west, upTo)).toEqual(await queryDigest(east, upTo));
      await untilState('synchronized');

      // another conversion than the subscriber's cast: every old row differs
      await east.query('ALTER TABLE public.items ALTER COLUMN price TYPE numeric(12,2) USING price / 100.0');
      await more('writes after the second type change');
      await appliedDiverged([...GATES]);

      // the way out, as printed
      await reinitConverges(writer, 'type changes');
    } finally {
      await writer.stop();
    }
  }, 900_000);
});
