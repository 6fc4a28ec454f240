import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { queryDigest, waitCaughtUp } from '../support/replicationData.js';

/**
 * A publication's row filter changed by steep on a table a subscription receives already:
 * PostgreSQL copies none of the rows the new filter takes in and leaves on the subscriber those
 * it now leaves out (its docs; `028_row_filter.pl`). Widened from `region = 'eu'` to eu and us,
 * the subscriber never got the 300 us rows: status `synchronized`, drift silent, only a plan
 * warning ("not re-copied") and a verify said so. The step is now gated `data-gap` with the
 * tables it opens a gap in: narrowed with `--no-wait`, status names the gap until the printed
 * copy; widened and waited for, apply compares the table, finds the rows missing, fails naming
 * the copy, and that copy converges. Under an id-logging writer on the publisher throughout
 * (its rows are eu: every one reaches the subscriber); PostgreSQL 15+ (row filters).
 */
const major = Number((process.env.STEEP_TEST_PG ?? '18').split(',')[0]);
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'filter_app', password: 'filter-app-secret-1' };
const SUB = ITEMS_SUB;
let where = "region IN ('eu', 'us')";
const {
  steep,
  setUp,
  startWriter,
  expectGated,
  writeItemsConfig,
  untilState,
  appliedDiverged,
  reinitConverges,
} = itemsPair(cluster, {
  topology: 'filter-change',
  app: APP,
  items: () => ['      - name: public.items', `        where: "${where}"`],
});

describe.skipIf(major < 15)('a row filter steep changes on a table a subscription holds', () => {
  it('is gated data-gap, named by status until copied, compared by apply when it waits', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await setUp(
      "id bigserial, v text NOT NULL, region text NOT NULL DEFAULT 'eu', PRIMARY KEY (id, region)",
      "INSERT INTO public.items (v, region) SELECT md5(g::text), CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 600) g",
    );
    const writer = startWriter();
    const { more } = writer;
    try {
      await more('writes on east');
      // narrowed: the us rows west holds stay there, no longer kept up
      where = "region = 'eu'";
      writeItemsConfig();
      await expectGated(
        /publication items_pub changes what east sends of public\.items, held on west already/,
      );
      const allowed = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap', '--no-wait']);
      expect(allowed.code, `${allowed.stdout}\n${allowed.stderr}`).toBe(0);
      await more('writes after the narrowing');
      const gap = await untilState('gap');
      expect(gap).toContain(
        'changes what items_sub receives of public.items; on west: rows its filters take in or leave out otherwise than before',
      );
      expect((await steep(['status', '--check'])).code).toBe(2);
      expect((await steep(['drift'])).code).toBe(2);
      // its way out, as status prints it: west then holds east's eu rows, and only those
      const copied = await steep(['reinit', SUB, '--tables', 'public.items', '--auto-approve']);
      expect(copied.code, `${copied.stdout}\n${copied.stderr}`).toBe(0);
      await more('writes after the copy');
      const [top] = await east.query<{ id: string }>('SELECT max(id)::text AS id FROM public.items');
      await waitCaughtUp(east, SUB);
      expect(await queryDigest(west, `SELECT * FROM public.items WHERE id <= ${top!.id}`)).toEqual(
        await queryDigest(east, `SELECT * FROM public.items WHERE id <= ${top!.id} AND region = 'eu'`),
      );
      await untilState('synchronized');

      // widened, waited for: apply compares and finds the us rows missing
      where = "region IN ('eu', 'us')";
      writeItemsConfig();
      await appliedDiverged(['--allow-hazard', 'data-gap'], 'missing [1-9]\\d*, extra 0, different 0');
      await reinitConverges(writer, 'filter changes');
    } finally {
      await writer.stop();
    }
  }, 900_000);
});
