import { describe, expect, it } from 'vitest';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * After a publication's creation, apply waits until the slots of the subscriptions that will read
 * it have confirmed a position past it (docs/commands.md, waits). The nightly set's seed 180083
 * showed that wait saying only "slot ts1 has not confirmed a position past its creation" every
 * 10 s up to its ceiling, while nothing streamed the slot. It now says why the slot does not move,
 * as the publisher shows it: nobody streams it (its worker not running, failing, or connected to
 * another server, as after a failover before apply re-points it), and gives up at the step's
 * statement timeout with that cause.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'cw_sub';

describe("apply's wait for a slot after a publication's creation (18)", () => {
  it('says that nobody streams the slot, and gives up at the ceiling with it', async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    for (const n of [east, west])
      for (const t of ['a', 'b'])
        await n.query(`CREATE TABLE public.${t} (id int PRIMARY KEY, v text NOT NULL)`);
    for (const t of ['a', 'b'])
      await east.query(`INSERT INTO public.${t} SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
    const file = (pubs: string[]) =>
      writeConfig(
        [
          'version: 1',
          'topology: catch-up-wait',
          'settings: { statementTimeout: 6s }',
          nodesYaml(cluster().nodes),
          'publications:',
          '  cw_a: { node: east, tables: [public.a] }',
          ...(pubs.includes('cw_b') ? ['  cw_b: { node: east, tables: [public.b] }'] : []),
          'subscriptions:',
          `  ${SUB}: { node: west, from: east, publications: [${pubs.join(', ')}] }`,
          '',
        ].join('\n'),
      );
    let path = file(['cw_a']);
    const steep = steepWith({
      config: () => path,
      env: () => passwordEnv(cluster().nodes),
      timeoutMs: 120_000,
    });
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

    // its connection pointed by hand where nothing listens: enabled, but nobody streams its slot
    await west.query(
      `ALTER SUBSCRIPTION ${SUB} CONNECTION 'host=127.0.0.1 port=1 dbname=app connect_timeout=2'`,
    );
    await eventually(
      async () =>
        (await east.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SUB}' AND active`))
          .length === 0,
      HANG_MS,
      'the slot let go',
    );
    path = file(['cw_a', 'cw_b']);
    const r = await steep(['apply', '--auto-approve']);
    const said = `${r.stdout}\n${r.stderr}`;
    expect(r.code, said).toBe(1);
    expect(said).toContain(
      `no walsender streams slot ${SUB}: its subscription's worker is not running, fails, or connects to another server (steep status says which)`,
    );
    expect(said).toMatch(/waited \d+ s\)/);
    // the publication list was left as it is: nothing read past a hole
    const pubs = await west.query<{ p: string[] }>(
      `SELECT subpublications AS p FROM pg_subscription WHERE subname = '${SUB}'`,
    );
    expect(pubs[0]?.p).toEqual(['cw_a']);
  }, 180_000);
});
