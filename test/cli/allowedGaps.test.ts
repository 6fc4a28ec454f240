import { describe, it } from 'vitest';
import { useCluster } from '../support/cluster.js';
import { GAP_SUB, type GapCase, type GapChange, runGapCase, SHOP } from '../support/gapCases.js';

/**
 * A hazard allowed by name is remembered (issue 80): a step gated `data-gap` that apply ran with
 * `--allow-hazard data-gap` opened a hole the DBA accepted (a table joining without a copy over
 * rows it kept), and status, status --check and drift name it until a copy (`steep reinit …
 * --tables`) or a verify that finds the table equal closes it; apply's own comparison of the table
 * that joined, when it waits, finds the rows missing at once. Under an id-logging writer
 * (test/support/gapCases.ts), on 18 and 16: then no acknowledged id lost and every table equal by
 * column name.
 */
const shop = {
  ...SHOP,
  named: ['public.customers'],
  notNamed: ['public.orders'],
  reinit: `steep reinit ${GAP_SUB} --tables public.customers`,
};

const ALLOW = ['--allow-hazard', 'data-gap'];

/**
 * Out of the publication in steep.yaml (steep's refresh drops it from the subscription), written
 * meanwhile, then back with the data-gap allowed (`flags`): what the second change must give.
 */
const outAndBack = (back: Partial<GapChange>): GapChange[] => [
  { published: ['public.orders'], state: 'synchronized' },
  { published: shop.published, ...back },
];

/** apply's comparison of the table that joined finds the rows written while it was out missing */
const caught: Partial<GapChange> = {
  flags: ALLOW,
  applyFails:
    /public\.customers \(missing [1-9]\d*, extra 0, different 0\)[\s\S]*steep reinit gap_sub --tables public\.customers/,
  state: 'diverged',
};

const CASES: GapCase[] = [
  {
    // planner/subscriptions/dataGaps.ts joiningOverRows: the refresh copies nothing over the rows kept
    ...shop,
    name: 'a table back in a snapshot subscription with existingData: keep, allowed',
    subscription: ['init: { method: snapshot, existingData: keep }'],
    changes: outAndBack(caught),
  },
  {
    // newTablesDecision: the DBA vouched for rows that are not all there
    ...shop,
    name: 'a table back in an init none subscription with newTables: skip, allowed',
    west: shop.east,
    subscription: ['init: { method: none, newTables: skip }'],
    changes: outAndBack(caught),
  },
  {
    // no comparison by apply (--no-wait): the gap recorded stays until the copy
    ...shop,
    name: 'a table back with existingData: keep, allowed, applied without waiting',
    subscription: ['init: { method: snapshot, existingData: keep }'],
    changes: outAndBack({
      flags: [...ALLOW, '--no-wait'],
      reasons: [/public\.customers joined gap_sub without a copy \(init\.existingData: keep/],
    }),
  },
  {
    // nothing written to it while it was out: a verify finds it equal and closes the gap
    ...shop,
    name: 'a table back with existingData: keep, allowed, nothing written meanwhile, then verified',
    tables: [...shop.tables, 'CREATE TABLE public.notes (id bigserial PRIMARY KEY, v text NOT NULL)'],
    published: [...shop.published, 'public.notes'],
    writes: 'public.notes',
    subscription: ['init: { method: snapshot, existingData: keep }'],
    changes: [
      { published: ['public.orders', 'public.notes'], state: 'synchronized' },
      {
        published: [...shop.published, 'public.notes'],
        flags: [...ALLOW, '--no-wait'],
        reasons: [/public\.customers joined gap_sub without a copy/],
      },
    ],
    verifyClears: true,
  },
];

describe('a data-gap allowed by name is remembered (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'] });
  for (const c of CASES) it(c.name, () => runGapCase(c, cluster()), 300_000);
});

describe('a data-gap allowed by name is remembered (16)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 16 });
  for (const c of CASES) it(c.name, () => runGapCase(c, cluster()), 300_000);
});
