import { describe, expect, it } from 'vitest';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests } from '../support/replicationData.js';
import { eventually, HANG_MS, pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep reinit --full` empties the subscriber's tables with one TRUNCATE, which PostgreSQL locks
 * table by table. A session holding one of them and then asking for another (the apply worker
 * applying a transaction that wrote both: the fault harness's seeds 180101 and 180018) closes a
 * cycle, and the deadlock detector aborted the TRUNCATE: reinit failed with "deadlock detected".
 * The tables are now locked first, each attempt giving back what it took before the detector runs,
 * so the other session goes on and the reinit finishes.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_dl';

describe('reinit --full against a session that locks its tables in the other order (18)', () => {
  it('gives way to it instead of being aborted as a deadlock, then copies every row', async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    for (const n of [east, west])
      for (const t of ['a', 'b'])
        await n.query(`CREATE TABLE public.${t} (id int PRIMARY KEY, v text NOT NULL)`);
    for (const t of ['a', 'b'])
      await east.query(`INSERT INTO public.${t} SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
    const path = writeConfig(
      pairYaml({
        topology: 'reinit-deadlock',
        publisher: east,
        subscriber: west,
        p: 'dl',
        tables: ['public.a', 'public.b'],
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

    // the other session holds b (as an apply worker mid-transaction would) …
    const blocker = await west.client();
    try {
      await blocker.query('BEGIN');
      await blocker.query('UPDATE public.b SET v = v WHERE id = 1');
      const reinit = steep(['reinit', SUB, '--full', '--auto-approve']);
      // … until the reinit's TRUNCATE, holding a, waits for b …
      await eventually(
        async () =>
          (
            await west.query<{ n: string }>(
              `SELECT count(*)::text AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE NOT l.granted AND l.relation = 'public.b'::regclass AND a.application_name = 'steep reinit'
                  AND EXISTS (SELECT FROM pg_locks h WHERE h.pid = l.pid AND h.granted
                                AND h.relation = 'public.a'::regclass AND h.mode = 'AccessExclusiveLock')`,
            )
          )[0]!.n === '1',
        HANG_MS,
        'the reinit holding public.a and waiting for public.b',
      );
      // … and then asks for a: a cycle, which must not cost the reinit (nor this session) anything
      await blocker.query('INSERT INTO public.a VALUES (-1, $1)', ['blocker']);
      await blocker.query('ROLLBACK');
      const r = await reinit;
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/deadlock/);
    } finally {
      await blocker.end();
    }
    await untilHealthy(steep);
    await eventually(
      async () =>
        JSON.stringify(await digests(west, ['a', 'b'])) === JSON.stringify(await digests(east, ['a', 'b'])),
      HANG_MS,
      'every row of a and b on west',
    );
    expect(await digests(west, ['a', 'b'])).toEqual(await digests(east, ['a', 'b']));
    expect((await digests(west, ['a', 'b'])).a?.count).toBe(1000);
  }, 300_000);
});
