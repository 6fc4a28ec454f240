import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import {
  faultVersions,
  startCluster,
  startStandby,
  type TestCluster,
  type TestNode,
} from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * `init: { method: physical }` (issue 64): the subscriber is a physical clone of the publisher,
 * and steep reads the position it holds from the clone itself (its system identifier, and where
 * its timeline forked from the publisher's), never from what was typed. A writer logs every
 * acknowledged id on the publisher throughout. A clone promoted before the prepared slot's LSN
 * is refused (the changes between would be in neither), and so is a --lsn that disagrees with
 * the fork; restoring again and applying again corrects it: every acknowledged id arrives.
 */

const TABLE = 'phys_items';
const SUB = 'ph_sub';

function fileFor(pa: TestNode, sub: TestNode | null): string {
  return [
    'version: 1',
    'topology: physical',
    'nodes:',
    '  pa:',
    `    url: postgres://postgres@127.0.0.1:${pa.port}/app`,
    `    password: \${env:${passwordVar(pa)}}`,
    ...(sub
      ? [
          '  pb:',
          `    url: postgres://postgres@127.0.0.1:${sub.port}/app`,
          `    password: \${env:${passwordVar(pa)}}`,
        ]
      : []),
    'publications:',
    `  ph_pub: { node: pa, tables: [public.${TABLE}] }`,
    ...(sub
      ? [
          'subscriptions:',
          `  ${SUB}: { node: pb, from: pa, publications: [ph_pub], init: { method: physical } }`,
        ]
      : []),
    '',
  ].join('\n');
}

async function forkedAt(node: TestNode): Promise<boolean> {
  return (await node.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false;
}

describe.each(faultVersions())('init method physical on PostgreSQL %i', (version) => {
  let cluster: TestCluster;
  let pa: TestNode;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: ['pa'], version });
    pa = cluster.node('pa');
    await pa.query(`CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
    await pa.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses a clone that forked before the slot, and a --lsn against the fork; a clone restored again is proven and complete', async () => {
    const env = () => passwordEnv([pa]);
    const onPublisher = steepWith({ config: () => writeConfig(fileFor(pa, null)), env });
    const first = await onPublisher(['apply', '--auto-approve']);
    expect(first.code, first.stderr).toBe(0);

    let nextId = 1_000_000;
    const writer = startIdWriter(
      { pa },
      { user: 'postgres', password: pa.password },
      `public.${TABLE}`,
      () => 'pa',
      () => ++nextId,
    );
    try {
      // a standby that stops receiving before the slot is made: promoted, it forks before the slot's LSN
      const early = await startStandby(cluster, 'pa', { name: 'pb_early', slot: 'early_phys' });
      await eventually(
        async () => (await early.query('SELECT 1 FROM pg_stat_wal_receiver')).length > 0,
        undefined,
        'the early standby to stream',
      );
      await early.query("ALTER SYSTEM SET primary_conninfo = ''");
      await early.query('SELECT pg_reload_conf()');
      await eventually(
        async () => (await early.query('SELECT 1 FROM pg_stat_wal_receiver')).length === 0,
        undefined,
        'the early standby to stop receiving',
      );
      const onEarly = steepWith({ config: () => writeConfig(fileFor(pa, early)), env });
      const prepared = await onEarly(['init', 'prepare', SUB, '--json']);
      expect(prepared.code, prepared.stderr).toBe(0);
      const { lsn, clone } = JSON.parse(prepared.stdout) as { lsn: string; clone: string[] };
      expect(clone.join('\n')).toContain('pg_basebackup');
      await early.promote();
      await eventually(() => forkedAt(early), undefined, 'the early clone to be promoted');
      const refused = await onEarly(['apply', '--auto-approve', '--allow-destroy']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `holds pa's changes up to \\S+ \\(where its timeline forked from pa's\\), before slot ${SUB}'s LSN ${lsn}`,
        ),
      );
      expect((await early.query(`SELECT 1 FROM pg_subscription WHERE subname = '${SUB}'`)).length).toBe(0);

      // restored again, after the slot: the clone forks past its LSN
      const good = await startStandby(cluster, 'pa', { name: 'pb_good', slot: 'good_phys' });
      await good.promote();
      await eventually(() => forkedAt(good), undefined, 'the clone to be promoted');
      const onGood = steepWith({ config: () => writeConfig(fileFor(pa, good)), env });
      const typed = await onGood(['apply', '--auto-approve', '--allow-destroy', '--lsn', `${SUB}=${lsn}`]);
      expect(typed.code).toBe(1);
      expect(typed.stderr).toMatch(
        new RegExp(
          `--lsn ${lsn} for subscription ${SUB} disagrees with where pb forked from pa: \\S+, as its timeline history says`,
        ),
      );
      const plan = await onGood(['plan']);
      expect(plan.stdout).toMatch(
        /pb is a physical clone of pa \(system identifier \d+\) whose timeline 2 forked from pa's timeline 1 at/,
      );
      expect(plan.stdout).toContain(
        'a copy of publication ph_pub of pa, whose system identifier pb has on another server',
      );
      const apply = await onGood(['apply', '--auto-approve', '--allow-destroy']);
      expect(apply.code, `${apply.stdout}${apply.stderr}`).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      const again = await onGood(['plan', '--detailed-exitcode']);
      expect(again.code, again.stdout).toBe(0);
      await writer.stop();
      await waitCaughtUp(pa, SUB);
      const acked = writer.acknowledged().get('pa') ?? [];
      expect(acked.length).toBeGreaterThan(0);
      const held = new Set(
        (await good.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE}`)).map((r) =>
          Number(r.id),
        ),
      );
      const lost = acked.filter((id) => !held.has(id));
      expect(lost, `${lost.length} of ${acked.length} acknowledged ids never reached the clone`).toEqual([]);
      expect(await digests(good, [TABLE])).toEqual(await digests(pa, [TABLE]));
    } finally {
      await writer.stop();
    }
  });
});
