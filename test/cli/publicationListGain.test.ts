import { describe, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { itemsPair } from '../support/itemsPair.js';

/**
 * A subscription that gains a publication of a table it holds already, unfiltered where the one
 * it read filtered (`region = 'eu'`): PostgreSQL then sends every row's changes (the filters
 * ORed) but copies nothing of a table the subscription holds, so the us rows the publisher had
 * never arrive. On the tree before, apply exited 0 and status said `synchronized` with them
 * missing. The subscription's step is now gated `data-gap`; allowed and waited for, apply
 * compares the table, fails naming the rows missing and the copy, and the copy converges. The
 * publication is declared in the same edit (created by the same apply). Under an id-logging
 * writer on the publisher throughout; PostgreSQL 15+ (row filters).
 */
const major = Number((process.env.STEEP_TEST_PG ?? '18').split(',')[0]);
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'gain_app', password: 'gain-app-secret-1' };
let gained = false;
const { setUp, startWriter, expectGated, writeItemsConfig, appliedDiverged, reinitConverges } = itemsPair(
  cluster,
  {
    topology: 'list-gain',
    app: APP,
    items: () => ['      - name: public.items', `        where: "region = 'eu'"`],
    publications: () => (gained ? ['  every_item_pub:', '    node: east', '    tables: [public.items]'] : []),
    reads: () => (gained ? '[items_pub, every_item_pub]' : '[items_pub]'),
  },
);

describe.skipIf(major < 15)(
  'a subscription gaining an unfiltered publication of a table it holds filtered',
  () => {
    it('is gated data-gap; apply compares the table and the printed copy converges', async () => {
      await setUp(
        "id bigserial, v text NOT NULL, region text NOT NULL DEFAULT 'eu', PRIMARY KEY (id, region)",
        "INSERT INTO public.items (v, region) SELECT md5(g::text), CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 600) g",
      );
      const writer = startWriter();
      try {
        await writer.more('writes on east');
        gained = true;
        writeItemsConfig();
        await expectGated(
          /its publication list gains every_item_pub, which changes what east sends of public\.items/,
        );
        await appliedDiverged(['--allow-hazard', 'data-gap'], 'missing [1-9]\\d*, extra 0, different 0');
        await reinitConverges(writer, 'publication list gain');
      } finally {
        await writer.stop();
      }
    }, 900_000);
  },
);
