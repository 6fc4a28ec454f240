/**
 * recreateInvalidatedSlot (src/executors/slotRecreate.ts) drops and creates a subscription's slot
 * once nothing holds it. An apply worker that crash-loops (here: a table the subscriber lacks)
 * starts again every wal_retrieve_retry_interval; one the launcher started just before the
 * DISABLE still connects, and its walsender takes the slot between steep's look and its drop
 * (CI, PostgreSQL 14: "replication slot … is active for PID …"). Every attempt must succeed.
 */
import { describe, expect, it } from 'vitest';
import { recreateInvalidatedSlot } from '../../src/executors/slotRecreate.js';
import { defaultVersion, useCluster } from '../support/cluster.js';
import { eventually } from '../support/topologyFile.js';

const version = defaultVersion();
const ATTEMPTS = 40;

describe(`recreateInvalidatedSlot (PostgreSQL ${version})`, () => {
  const cluster = useCluster({
    nodes: ['east', 'west'],
    version,
    settings: { wal_retrieve_retry_interval: '1ms' },
  });

  it('waits out a crash-looping apply worker that takes the slot back', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await east.query('CREATE TABLE public.items (id bigint PRIMARY KEY)');
    await east.query('CREATE PUBLICATION p FOR TABLE public.items');
    await west.query('CREATE TABLE public.items (id bigint PRIMARY KEY)');
    await west.query(`CREATE SUBSCRIPTION s CONNECTION '${east.url}' PUBLICATION p WITH (copy_data = false)`);
    // west drops public.items: the worker fails at each change and starts again at once
    await west.query('DROP TABLE public.items');
    const writes = setInterval(() => {
      east
        .query('INSERT INTO public.items SELECT coalesce(max(id), 0) + 1 FROM public.items')
        .catch(() => {});
    }, 5);
    const pub = await east.client();
    const sub = await west.client();
    try {
      const slot = { subscription: 's', slot: 's', failover: false, publisherVersion: east.serverVersionNum };
      for (let i = 0; i < ATTEMPTS; i++) {
        await eventually(
          async () =>
            (await west.query<{ n: number }>('SELECT count(pid)::int AS n FROM pg_stat_subscription'))[0]!.n >
            0,
          undefined,
          'the apply worker to start again',
        );
        await expect(recreateInvalidatedSlot(pub, sub, { ...slot, enabled: true })).resolves.toBeUndefined();
      }
      const [row] = await east.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 's'",
      );
      expect(row!.n).toBe(1);
    } finally {
      clearInterval(writes);
      await west.query('ALTER SUBSCRIPTION s DISABLE').catch(() => {});
      await pub.end();
      await sub.end();
    }
  }, 300_000);
});
