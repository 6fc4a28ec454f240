import { describe, expect, it } from 'vitest';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests } from '../support/replicationData.js';
import { eventually, HANG_MS, pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep init cancel --allow-destroy` of a subscription whose slot is no longer on its publisher
 * (dropped by hand, or a failover to a standby the slot never reached; the nightly set's seed
 * 180071): DROP SUBSCRIPTION drops the slot on the publisher too, and failed with "replication
 * slot … does not exist", so nothing could be cancelled. The cancel now detaches the missing slot
 * (slot_name = NONE) before the drop and says so; the subscriber's rows are kept.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_gone';

describe('init cancel of a subscription whose slot is gone from its publisher (18)', () => {
  it('drops the subscription, saying the slot was not there, and keeps its rows', async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    for (const n of [east, west])
      await n.query('CREATE TABLE public.t (id int PRIMARY KEY, v text NOT NULL)');
    await east.query('INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 500) g');
    const path = writeConfig(
      pairYaml({
        topology: 'cancel-slot-gone',
        publisher: east,
        subscriber: west,
        p: 'gone',
        tables: ['public.t'],
      }),
    );
    const steep = steepWith({
      config: () => path,
      env: () => passwordEnv(cluster().nodes),
      timeoutMs: 180_000,
    });
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);
    expect(await digests(west, ['t'])).toEqual(await digests(east, ['t']));

    await west.query(`ALTER SUBSCRIPTION ${SUB} DISABLE`);
    await eventually(
      async () =>
        (await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SUB}' AND active`))
          .length === 0,
      HANG_MS,
      'the slot let go by its walsender',
    );
    await east.query(`SELECT pg_drop_replication_slot('${SUB}')`);

    const r = await steep(['init', 'cancel', SUB, '--allow-destroy', '--auto-approve']);
    const shown = `${r.stdout}\n${r.stderr}`;
    expect(r.code, shown).toBe(0);
    expect(shown).toMatch(new RegExp(`slot ${SUB} is not on east`));
    expect(await west.query(`SELECT 1 FROM pg_subscription WHERE subname = '${SUB}'`)).toEqual([]);
    // the subscriber's rows are the only copy of what it streamed: kept
    expect(await digests(west, ['t'])).toEqual(await digests(east, ['t']));
  }, 300_000);
});
