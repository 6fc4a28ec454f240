/**
 * The init catalog reads on real PostgreSQL 14 and 18: per-table sync states and the table-sync
 * worker's COPY progress, worker activity and error counts (15+) and conflict counters (18+),
 * publisher table sizes and slot lag, the state schema's init rows (own node only), and row
 * presence for the existing-data check.
 */
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  readPublishedTableSizes,
  readSlotLag,
  readSubscriptionActivity,
  sampleSubscriber,
} from '../../src/catalog/initProgress.js';
import { readNode } from '../../src/catalog/readNode.js';
import { readRowPresence } from '../../src/catalog/rowPresence.js';
import { stateMigrations } from '../../src/state/migrations.js';
import { SubscriptionStateStore } from '../../src/state/subscriptionState.js';
import { testVersions, useCluster } from '../support/cluster.js';
import { createTables, fillTables, slowCopy } from '../support/replicationData.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

describe.each(testVersions())('init catalog reads on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['pub', 'sub'], version });

  test('progress of a copy, activity, sizes and lag', async () => {
    const pub = cluster().node('pub');
    const sub = cluster().node('sub');
    const tables = [
      { name: 'ip_big', rows: 60_000 },
      { name: 'ip_small', rows: 2_000 },
    ];
    await createTables([pub, sub], tables);
    await fillTables(pub, tables);
    await slowCopy(sub, 'ip_big', 1000, 60);
    await pub.query('CREATE PUBLICATION ip_pub FOR TABLE public.ip_big, public.ip_small');
    await sub.query(
      `CREATE SUBSCRIPTION ip_sub CONNECTION 'host=127.0.0.1 port=${pub.port} dbname=app user=postgres password=${pub.password}' PUBLICATION ip_pub`,
    );
    onTestFinished(async () => {
      await sub.query('DROP SUBSCRIPTION IF EXISTS ip_sub').catch(() => {});
      await pub.query('DROP PUBLICATION IF EXISTS ip_pub').catch(() => {});
    });
    const c = await sub.client();
    const p = await pub.client();
    onTestFinished(async () => {
      await c.end();
      await p.end();
    });
    const v = sub.serverVersionNum;

    let seen = false;
    await eventually(
      async () => {
        const s = await sampleSubscriber(c, v, 'ip_sub');
        const big = s.tables.find((t) => t.name === 'ip_big');
        seen = big?.state === 'd' && (big.tuplesProcessed ?? 0) > 0;
        return seen;
      },
      HANG_MS,
      'the table-sync worker copying ip_big',
    );
    const s = await sampleSubscriber(c, v, 'ip_sub');
    expect(s.tables.map((t) => t.name)).toEqual(['ip_big', 'ip_small']);
    expect(s.activity).toMatchObject({ name: 'ip_sub', enabled: true });
    expect(s.activity!.syncWorkers).toBeGreaterThanOrEqual(1);
    if (v >= 150000) expect(s.activity).toMatchObject({ applyErrorCount: 0, syncErrorCount: 0 });
    else expect(s.activity).toMatchObject({ applyErrorCount: null, syncErrorCount: null });
    if (v >= 180000) expect(Object.keys(s.activity!.conflicts!)).toContain('insert_exists');
    else expect(s.activity!.conflicts).toBeNull();
    expect((await sampleSubscriber(c, v, 'no_such_sub')).activity).toBeNull();
    expect((await readSubscriptionActivity(c, v)).map((a) => a.name)).toEqual(['ip_sub']);

    const sizes = await readPublishedTableSizes(p, [
      { schema: 'public', name: 'ip_big' },
      { schema: 'public', name: 'ip_small' },
    ]);
    expect(sizes.get('public.ip_big')!.sizeBytes).toBeGreaterThan(1_000_000);
    expect(sizes.get('public.ip_big')!.estimatedRows).toBeGreaterThan(50_000);
    const [lag] = await readSlotLag(p, 'ip_sub');
    expect(lag).toMatchObject({ slot: 'ip_sub', walStatus: 'reserved' });
    expect(lag!.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(lag!.lagBytes).toBeGreaterThanOrEqual(0);
    expect(seen).toBe(true);
  });

  test("the state schema's init rows of the node itself, and row presence", async () => {
    const sub = cluster().node('sub');
    for (const m of stateMigrations('steep')) for (const sql of m.statements) await sub.query(sql);
    const c = await sub.client();
    onTestFinished(() => c.end());
    const store = new SubscriptionStateStore('steep', 'sub');
    const changes = await store.transition(c, 'mine', 'copying', { method: 'snapshot', source: 'pub' });
    expect(changes.map((x) => [x.from, x.to])).toEqual([['uninitialized', 'copying']]);
    await new SubscriptionStateStore('steep', 'elsewhere').transition(c, 'theirs', 'copying', {
      method: 'snapshot',
      source: 'pub',
    });
    await c.query(
      `INSERT INTO steep.init_slots (node_name, slot_name, subscription, lsn) VALUES ('sub', 'mine_slot', 'mine', '0/ABC'), ('elsewhere', 'x', 'theirs', '0/1')`,
    );
    const node = await readNode(sub.connection, { node: 'sub', stateSchema: 'steep' });
    expect(Object.keys(node.initState!.subscriptions)).toEqual(['mine']);
    expect(node.initState!.subscriptions.mine).toMatchObject({
      state: 'copying',
      initMethod: 'snapshot',
      sourceNode: 'pub',
    });
    expect(node.initState!.slots.mine).toMatchObject({ slot: 'mine_slot', lsn: '0/ABC' });
    expect(
      await store.transition(c, 'mine', 'synchronized', { method: 'snapshot', source: 'pub' }),
    ).toHaveLength(2);
    await expect(store.get(c, 'mine')).resolves.toMatchObject({ state: 'synchronized', error: null });

    await createTables(
      [sub],
      [
        { name: 'rp_full', rows: 0 },
        { name: 'rp_empty', rows: 0 },
      ],
    );
    await sub.query(`INSERT INTO public.rp_full (id, v) VALUES (1, 'x')`);
    const presence = await readRowPresence(sub.connection, {
      node: 'sub',
      tables: [
        { schema: 'public', name: 'rp_full' },
        { schema: 'public', name: 'rp_empty' },
      ],
    });
    expect([...presence.withRows]).toEqual(['public.rp_full']);
    expect([...presence.unreadable]).toEqual([]);
  });
});
