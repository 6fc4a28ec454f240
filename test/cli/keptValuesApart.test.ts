import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { queryDigest, waitCaughtUp } from '../support/replicationData.js';

/**
 * A column a DBA adds by hand on both sides (`schemaSync: strict` asks exactly that) with a
 * default PostgreSQL evaluates once (`DEFAULT now()`): each side's ADD COLUMN gives the rows it
 * holds its own value, no change ever carries them, and status said `synchronized` with every
 * row from before the ADD different (only a verify found them). Both values are in the catalog
 * (`pg_attribute.attmissingval`), so the next reading names the gap; its printed way out
 * converges, and a column added the way docs/steep-yaml.md says (the publisher's value on the
 * subscriber) is no gap. Under the app's id-logging writer on the publisher throughout.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'kept_app', password: 'kept-app-secret-1' };
const { steep, setUp, startWriter, untilState, reinitConverges } = itemsPair(cluster, {
  topology: 'kept-apart',
  app: APP,
});

describe('a column added by hand on both sides with DEFAULT now()', () => {
  it('is a gap at the next reading, closed by the printed copy; added with the publisher’s value, none', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL DEFAULT md5(random()::text)',
      'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 300) g',
    );
    const writer = startWriter();
    try {
      await writer.more('writes on east');
      // as the publisher's value, following docs/steep-yaml.md: no gap
      await east.query('ALTER TABLE public.items ADD COLUMN seen timestamptz NOT NULL DEFAULT now()');
      const [kept] = await east.query<{ v: string }>(
        "SELECT attmissingval::text AS v FROM pg_attribute WHERE attrelid = 'public.items'::regclass AND attname = 'seen'",
      );
      const value = kept!.v.replace(/^\{"?|"?\}$/g, '');
      await west.query(`ALTER TABLE public.items ADD COLUMN seen timestamptz NOT NULL DEFAULT '${value}'`);
      await west.query('ALTER TABLE public.items ALTER COLUMN seen SET DEFAULT now()');
      await writer.more('writes after the first column');
      await waitCaughtUp(east, ITEMS_SUB);
      // west's worker may have failed on the column it lacked until then: a reading that sees
      // its errors, then a comparison, says how it went on
      await steep(['status']);
      const compared = await steep(['verify', ITEMS_SUB]);
      expect(compared.code, compared.stdout).toBe(0);
      await untilState('synchronized');
      const old = 'SELECT id, seen FROM public.items WHERE id <= 300';
      expect(await queryDigest(west, old)).toEqual(await queryDigest(east, old));

      // each side's own now(), a moment apart (the subscriber first: its worker never fails)
      await west.query('ALTER TABLE public.items ADD COLUMN created timestamptz NOT NULL DEFAULT now()');
      await writer.more('writes after the ADD COLUMN on west');
      await east.query('ALTER TABLE public.items ADD COLUMN created timestamptz NOT NULL DEFAULT now()');
      await writer.more('writes after the ADD COLUMN on east');
      await waitCaughtUp(east, ITEMS_SUB);
      const rows = 'SELECT id, created FROM public.items WHERE id <= 300';
      expect(await queryDigest(west, rows)).not.toEqual(await queryDigest(east, rows));
      const gap = await untilState('gap');
      const reasons = (JSON.parse(gap) as { subscriptions: Array<{ verdict: { reasons: string[] } }> })
        .subscriptions[0]!.verdict.reasons;
      expect(reasons.join('\n')).toMatch(
        /column created \("[^"]+" on east, "[^"]+" on the subscriber\) of public\.items was added on each side with a default evaluated once/,
      );
      expect(gap).toContain(`steep reinit ${ITEMS_SUB} --tables public.items`);
      const check = await steep(['status', '--check']);
      expect(check.code, check.stdout).toBe(2);

      // the way out, as printed: equal, synchronized, a verify that finds it equal, no new gap
      await reinitConverges(writer, 'kept values apart');
      const again = await steep(['status', '--check']);
      expect(again.code, again.stdout).toBe(0);
    } finally {
      await writer.stop();
    }
  }, 600_000);
});
