import { describe, expect, it } from 'vitest';
import { at, check } from './support.js';

const LINK = `version: 1
topology: regions
nodes:
  eu:
    url: postgres://steep@eu.internal:5432/app
  us:
    url: postgres://steep@us.internal:5432/app
links:
  eu_us:
    nodes: [eu, us]
    tables: [public.accounts, orders]
    init: { method: merge, strategy: "prefer:eu" }
`;

function errorsOf(text: string): string[] {
  return check(text).errors.map((e) => `${at(e)} ${e.code}: ${e.message}`);
}

describe('links: in steep.yaml', () => {
  it('expands to a publication and a subscription on each node, named for the node they live on, origin none', () => {
    const { topology, errors } = check(LINK);
    expect(errors).toEqual([]);
    expect(topology?.links?.eu_us).toMatchObject({
      nodes: ['eu', 'us'],
      publications: { eu: 'eu_us_eu', us: 'eu_us_us' },
      subscriptions: { eu: 'eu_us_eu', us: 'eu_us_us' },
      tables: [
        { schema: 'public', name: 'accounts' },
        { schema: 'public', name: 'orders' },
      ],
    });
    expect(topology?.publications.eu_us_eu).toMatchObject({
      node: 'eu',
      link: 'eu_us',
      tables: [
        { schema: 'public', name: 'accounts', columns: null, where: null },
        { schema: 'public', name: 'orders', columns: null, where: null },
      ],
      publish: ['insert', 'update', 'delete', 'truncate'],
    });
    expect(topology?.publications.eu_us_us?.node).toBe('us');
    expect(topology?.subscriptions.eu_us_us).toMatchObject({
      node: 'us',
      from: 'eu',
      publications: ['eu_us_eu'],
      // the slot on eu's server carries the tag of eu's database (the first 8 hex digits of sha256('app'))
      slot: 'eu_us_us_a172cedc',
      options: { origin: 'none' },
      init: { method: 'merge', strategy: 'prefer:eu' },
      link: 'eu_us',
    });
    expect(topology?.subscriptions.eu_us_eu).toMatchObject({
      node: 'eu',
      from: 'us',
      publications: ['eu_us_us'],
      options: { origin: 'none' },
      init: { method: 'merge', strategy: 'prefer:eu' },
    });
    expect(topology?.positions['subscription.eu_us_eu']).toEqual({ file: 'steep.yaml', line: 9, column: 3 });
  });

  it('init snapshot copies on the first edge only: the reverse edge starts with copy_data = false (none)', () => {
    const { topology, errors } = check(
      LINK.replace('{ method: merge, strategy: "prefer:eu" }', '{ method: snapshot }'),
    );
    expect(errors).toEqual([]);
    expect(topology?.subscriptions.eu_us_us?.init.method).toBe('snapshot');
    expect(topology?.subscriptions.eu_us_eu?.init.method).toBe('none');
  });

  it('strategy per SPEC §2: prefer:<node of the link>, last-modified:<column>, manual; never prefer-source on a link', () => {
    for (const ok of ['prefer:us', 'last-modified:updated_at', 'manual']) {
      expect(errorsOf(LINK.replace('prefer:eu', ok))).toEqual([]);
    }
    expect(errorsOf(LINK.replace('prefer:eu', 'prefer-source'))).toEqual([
      '12:38 invalid-value: link `eu_us`: `strategy` must be prefer:<node>, last-modified:<column>, manual, or (a one-way subscription only) prefer-source or prefer-target',
    ]);
    expect(errorsOf(LINK.replace('prefer:eu', 'prefer:ap'))).toEqual([
      '12:38 merge-strategy: link `eu_us`: strategy `prefer:ap` names node `ap`, which is not one of `eu` and `us`',
    ]);
    expect(errorsOf(LINK.replace(', strategy: "prefer:eu"', ''))).toEqual([
      '12:13 merge-strategy: link `eu_us`: init method merge needs a `strategy` for conflicting rows',
    ]);
  });

  it('a strategy per table (init.strategies), the default for the rest; never manual, and checked as strategy is', () => {
    const per = (strategies: string) =>
      LINK.replace(
        '{ method: merge, strategy: "prefer:eu" }',
        `{ method: merge, strategy: "last-modified:updated_at", strategies: ${strategies} }`,
      );
    const { topology, errors } = check(per('{ orders: "prefer:us" }'));
    expect(errors).toEqual([]);
    expect(topology?.links?.eu_us?.init).toMatchObject({
      strategy: 'last-modified:updated_at',
      strategies: { 'public.orders': 'prefer:us' },
    });
    expect(topology?.subscriptions.eu_us_us?.init.strategies).toEqual({ 'public.orders': 'prefer:us' });
    expect(errorsOf(per('{ orders: "prefer:ap" }'))).toEqual([
      '12:88 merge-strategy: link `eu_us`: strategy of public.orders: `prefer:ap` names node `ap`, which is not one of `eu` and `us`',
    ]);
    expect(errorsOf(per('{ orders: "manual" }'))).toEqual([
      '12:88 merge-strategy: link `eu_us`: strategy of public.orders: `manual` applies to the whole merge (init.strategy), not to one table',
    ]);
  });

  it('refuses what a link cannot be, each at its place', () => {
    expect(errorsOf(LINK.replace('[eu, us]', '[eu, eu]'))).toEqual([
      '10:17 link-to-itself: link `eu_us`: both nodes are `eu`; a link joins two different nodes',
    ]);
    expect(errorsOf(LINK.replace('[eu, us]', '[eu, ap]'))).toEqual([
      '10:17 unknown-node: link `eu_us`: node `ap` is not declared in `nodes`',
    ]);
    expect(errorsOf(LINK.replace('    tables: [public.accounts, orders]\n', ''))).toEqual([
      '9:3 publishes-nothing: link `eu_us` replicates nothing',
    ]);
    expect(errorsOf(`${LINK}    options: { origin: any }\n`)).toEqual([
      "13:24 link-origin: link `eu_us`: `origin: any` would send every change back where it came from; a link's subscriptions are always origin none",
    ]);
    expect(errorsOf(`${LINK}publications:\n  eu_us_eu: {node: eu, tables: [t]}\n`)).toEqual([
      '9:3 link-name-taken: link `eu_us` names its publication on node `eu` `eu_us_eu`, which `publications` already declares',
    ]);
  });

  it('a node that declares PostgreSQL 14 or 15 is an error naming the node', () => {
    expect(
      errorsOf(
        LINK.replace(
          '    url: postgres://steep@us.internal:5432/app',
          '    url: postgres://steep@us.internal:5432/app\n    serverVersion: 15',
        ),
      ),
    ).toEqual([
      '10:3 version-too-old: link `eu_us`: node `us` declares PostgreSQL 15; a link needs 16 or later on both nodes (origin = none)',
    ]);
  });
});
