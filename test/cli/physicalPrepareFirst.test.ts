import { describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/sandbox/ports.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * A physical init is prepared before its subscriber exists: the clone is made from the slot
 * `steep init prepare` creates. With steep.yaml written whole from the start (the subscriber's node
 * not there yet), prepare refuses while the publication is missing; its advice was "run steep
 * apply first", which cannot reach the subscriber (issue 81). The advice now names the apply
 * that makes only the publication, and followed literally, prepare then makes the slot.
 */
const cluster = useCluster({ nodes: ['pa'] });
const SUB = 'pf_sub';

describe('a physical init prepared before its subscriber exists (18)', () => {
  it('names the apply that makes the publication alone; followed literally, prepare goes on', async () => {
    const pa = cluster().node('pa');
    await pa.query('CREATE TABLE public.pf (id bigint PRIMARY KEY, v text NOT NULL)');
    await pa.query('INSERT INTO public.pf SELECT g, md5(g::text) FROM generate_series(1, 100) g');
    const nowhere = await findFreePort();
    const path = writeConfig(
      [
        'version: 1',
        'topology: physical-first',
        'nodes:',
        `  pa: { url: "postgres://postgres@127.0.0.1:${pa.port}/app", password: "\${env:${passwordVar(pa)}}" }`,
        `  pb: { url: "postgres://postgres@127.0.0.1:${nowhere}/app", password: "\${env:${passwordVar(pa)}}" }`,
        'publications:',
        '  pf_pub: { node: pa, tables: [public.pf] }',
        'subscriptions:',
        `  ${SUB}: { node: pb, from: pa, publications: [pf_pub], init: { method: physical } }`,
        '',
      ].join('\n'),
    );
    const steep = steepWith({ config: () => path, env: () => passwordEnv([pa]), timeoutMs: 120_000 });
    const refused = await steep(['init', 'prepare', SUB]);
    expect(refused.code, refused.stderr).toBe(1);
    const way = /run (steep apply --target \S+)/.exec(refused.stderr)?.[1];
    expect(way, refused.stderr).toBe('steep apply --target publication.pf_pub');
    const applied = await steep([...way!.split(' ').slice(1), '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await pa.query("SELECT 1 FROM pg_publication WHERE pubname = 'pf_pub'")).toHaveLength(1);
    const prepared = await steep(['init', 'prepare', SUB]);
    expect(prepared.code, `${prepared.stdout}\n${prepared.stderr}`).toBe(0);
    expect(await pa.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SUB}'`)).toHaveLength(1);
  }, 180_000);
});
