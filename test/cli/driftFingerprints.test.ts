import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The fingerprints apply saves follow the subscriptions (docs/commands.md, `steep schema
 * fingerprint`): a table that left every subscription of a node loses its saved fingerprint
 * there at the next apply, so dropping it later (no longer replicated, the user's to drop) is no
 * drift; a table the node still publishes for another subscriber keeps it; a table that is still
 * subscribed and was dropped is drift; a table only `schema fingerprint --save` recorded stays.
 */

interface DriftJson {
  fingerprints: Array<{ node: string; table: string; change: string }>;
}

describe('saved fingerprints of tables that left every subscription', () => {
  const cluster = useCluster({ nodes: ['east', 'west', 'north'] });
  const nodes = () => cluster().nodes as [TestNode, TestNode, TestNode];
  const steep = steepWith({ env: () => passwordEnv(nodes()) });

  /** east publishes pub_a to west and pub_b to north; with `northToo: false`, north subscribes nothing. */
  function config(pubA: string[], northToo = true): string {
    return writeConfig(
      [
        'version: 1',
        'topology: fingerprint-scope',
        nodesYaml(nodes()),
        'publications:',
        '  pub_a:',
        '    node: east',
        `    tables: [${pubA.join(', ')}]`,
        ...(northToo ? ['  pub_b:', '    node: east', '    tables: [public.events]'] : []),
        'subscriptions:',
        '  sub_a:',
        '    node: west',
        '    from: east',
        '    publications: [pub_a]',
        ...(northToo ? ['  sub_b:', '    node: north', '    from: east', '    publications: [pub_b]'] : []),
        '',
      ].join('\n'),
    );
  }

  async function saved(n: TestNode): Promise<string[]> {
    const rows = await n.query<{ t: string }>(
      `SELECT table_schema || '.' || table_name AS t FROM steep.schema_fingerprints WHERE node_name = $1 ORDER BY 1`,
      [n.name],
    );
    return rows.map((r) => r.t);
  }

  async function drift(path: string): Promise<{ code: number; report: DriftJson; text: string }> {
    const r = await steep(['drift', '--json'], path);
    return { code: r.code, report: JSON.parse(r.stdout) as DriftJson, text: `${r.stdout}\n${r.stderr}` };
  }

  test('apply drops them where no subscription holds the table any more, and keeps the rest', async () => {
    const [east, west, north] = nodes();
    for (const n of nodes()) {
      await n.query(`
        CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text);
        CREATE TABLE public.events (id bigint PRIMARY KEY, payload text);`);
    }
    // a table no subscription carries, recorded by the user's own --save: apply leaves it alone
    await west.query('CREATE TABLE public.scratch (id int)');
    const first = await steep(['apply', '--auto-approve'], config(['public.accounts', 'public.events']));
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    const baseline = await steep(['schema', 'fingerprint', 'west', '--save'], config(['public.accounts']));
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(await saved(west)).toEqual(['public.accounts', 'public.events', 'public.scratch']);

    // events leaves pub_a, so west no longer receives it; east still publishes it for north
    const path = config(['public.accounts']);
    const second = await steep(['apply', '--auto-approve'], path);
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);

    // no longer replicated on west: the user's to drop, and no drift
    await west.query('DROP TABLE public.events');
    const afterDrop = await drift(path);
    expect(afterDrop.report.fingerprints, afterDrop.text).toEqual([]);
    expect(afterDrop.code, afterDrop.text).toBe(0);
    expect(await saved(west)).toEqual(['public.accounts', 'public.scratch']);
    expect(await saved(east)).toEqual(['public.accounts', 'public.events']);
    expect(await saved(north)).toEqual(['public.events']);

    // north's only subscription goes: north keeps no fingerprint, east none of events
    const lean = config(['public.accounts'], false);
    const third = await steep(['apply', '--auto-approve', '--allow-destroy'], lean);
    expect(third.code, `${third.stdout}\n${third.stderr}`).toBe(0);
    expect(await saved(north)).toEqual([]);
    expect(await saved(east)).toEqual(['public.accounts']);
    await north.query('DROP TABLE public.events');
    await east.query('DROP TABLE public.events');
    const quiet = await drift(lean);
    expect(quiet.code, quiet.text).toBe(0);

    // a table the user baselined with --save and then dropped is still drift on west
    await west.query('DROP TABLE public.scratch');
    const scratch = await drift(lean);
    expect(scratch.code, scratch.text).toBe(2);
    expect(scratch.report.fingerprints).toEqual([
      expect.objectContaining({ node: 'west', table: 'public.scratch', change: 'dropped' }),
    ]);
    expect((await steep(['schema', 'fingerprint', 'west', '--save'], lean)).code).toBe(0);

    // a table still subscribed and dropped is drift
    await west.query('DROP TABLE public.accounts');
    const dropped = await drift(lean);
    expect(dropped.code, dropped.text).toBe(2);
    expect(dropped.report.fingerprints).toEqual([
      expect.objectContaining({ node: 'west', table: 'public.accounts', change: 'dropped' }),
    ]);
  });
});
