import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idsGoOn, startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { startCluster, startStandby, type TestCluster, type TestNode } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A physical clone of a subscriber (issue 64): the clone carries its original's subscription,
 * with the same slot on the same publisher. Declared as a new node without that subscription,
 * the plan drops the copy; a plain DROP SUBSCRIPTION would drop the original's live upstream
 * slot (it waits, without a timeout, for the original's walsender to let go of it, then drops
 * it: every row written meanwhile never reaches the original). steep names the clone and detaches
 * the copy from the slot before dropping it: the original keeps streaming, counted by
 * acknowledged ids.
 */

const TABLE = 'clone_items';
const SUB = 'cl_sub';

function fileFor(nodes: TestNode[]): string {
  return [
    'version: 1',
    'topology: clones',
    nodesYaml(nodes),
    'publications:',
    '  cl_pub: { node: pa, tables: [public.clone_items] }',
    'subscriptions:',
    `  ${SUB}: { node: pb, from: pa, publications: [cl_pub] }`,
    '',
  ].join('\n');
}

describe('a physical clone of a subscriber', () => {
  let cluster: TestCluster;
  let pa: TestNode;
  let pb: TestNode;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: ['pa', 'pb'] });
    [pa, pb] = [cluster.node('pa'), cluster.node('pb')];
    for (const n of [pa, pb])
      await n.query(`CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
    await pa.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 500) g`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is named as a clone, and dropping its copy of the subscription leaves the original its slot', async () => {
    const steep = steepWith({
      config: () => writeConfig(fileFor([pa, pb])),
      env: () => passwordEnv([pa, pb]),
    });
    const first = await steep(['apply', '--auto-approve']);
    expect(first.code, first.stderr).toBe(0);
    await waitCaughtUp(pa, SUB);

    let nextId = 1_000_000;
    const writer = startIdWriter(
      { pa },
      { user: 'postgres', password: pa.password },
      `public.${TABLE}`,
      () => 'pa',
      () => ++nextId,
    );
    try {
      const pc = await startStandby(cluster, 'pb', { name: 'pc', slot: 'pc_clone' });
      await pc.promote();
      await eventually(
        async () => (await pc.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false,
        undefined,
        'the clone to be promoted',
      );
      const all = [pa, pb, pc];
      const onAll = steepWith({
        config: () => writeConfig(fileFor(all)),
        env: () => passwordEnv(all),
        timeoutMs: 90_000,
      });
      const plan = await onAll(['plan']);
      expect(plan.code, plan.stderr).toBe(0);
      const planText = `${plan.stdout}${plan.stderr}`;
      expect(planText).toMatch(/pc is a physical clone of pb/);
      expect(planText).toMatch(/SET \(slot_name = NONE\)/);
      const apply = await onAll(['apply', '--auto-approve', '--allow-destroy']);
      expect(apply.code, `${apply.stdout}${apply.stderr}`).toBe(0);
      expect((await pc.query(`SELECT 1 FROM pg_subscription WHERE subname = '${SUB}'`)).length).toBe(0);
      const [slot] = await pa.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [SUB],
      );
      expect(slot, 'the original subscriber lost its upstream slot').toBeDefined();
      // writes after the drop, for the original to stream from its slot
      await idsGoOn(writer, 'pa');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(pa, SUB);
    const acked = writer.acknowledged().get('pa') ?? [];
    expect(acked.length).toBeGreaterThan(0);
    const held = new Set(
      (await pb.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE}`)).map((r) => Number(r.id)),
    );
    const lost = acked.filter((id) => !held.has(id));
    expect(lost, `${lost.length} of ${acked.length} acknowledged ids never reached pb`).toEqual([]);
    expect(await digests(pb, [TABLE])).toEqual(await digests(pa, [TABLE]));
  });
});
