import { describe, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { itemsPair } from '../support/itemsPair.js';

/**
 * A publication that now publishes an action it did not (`publish: [insert]` → every action), on
 * a table a subscription holds: what the publisher updated and deleted while only inserts were
 * published was never sent, a difference verify allowed until then (docs/repair.md) and a
 * divergence from then on, which the stream never mends. On the tree before, apply exited 0 and
 * status said `synchronized` with 100 rows different and 50 extra on the subscriber. The step is
 * now gated `data-gap`; allowed and waited for, apply compares the table, fails naming the rows
 * and the copy, and that copy converges. Under an id-logging writer on the publisher throughout.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'publish_app', password: 'publish-app-secret-1' };
let publish = ['    publish: [insert]'];
const { setUp, startWriter, expectGated, writeItemsConfig, appliedDiverged, reinitConverges } = itemsPair(
  cluster,
  {
    topology: 'publish-actions',
    app: APP,
    publication: () => publish,
  },
);

describe('a publication that now publishes updates and deletes of a table a subscription holds', () => {
  it('is gated data-gap; apply compares the table and the printed copy converges', async () => {
    const east = cluster().node('east');
    await setUp(
      'id bigserial PRIMARY KEY, v text NOT NULL',
      'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 600) g',
    );
    const writer = startWriter();
    try {
      await writer.more('writes on east');
      // neither is sent while only inserts are published
      await east.query("UPDATE public.items SET v = 'changed' WHERE id <= 100");
      await east.query('DELETE FROM public.items WHERE id > 100 AND id <= 150');
      publish = [];
      writeItemsConfig();
      await expectGated(
        /publication items_pub changes what east sends of public\.items, held on west already/,
      );
      await appliedDiverged(['--allow-hazard', 'data-gap'], 'missing 0, extra 50, different 100');
      await reinitConverges(writer, 'publish actions');
    } finally {
      await writer.stop();
    }
  }, 900_000);
});
