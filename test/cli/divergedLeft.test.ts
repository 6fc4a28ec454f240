import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A verdict belongs to the tables it was made for (issue 62): a verify finds public.b diverged,
 * then public.b leaves the subscription. status names no repair of a table the subscription no
 * longer carries (a reinit of it is refused), says why it is still diverged and what settles it,
 * and that command, followed literally under writes, settles it: the subscription synchronized,
 * every acknowledged id of the table it carries on the subscriber.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'dl_app', password: 'dl-app-secret-1' };
const SUB = 'dl_sub';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(tables: string[]): string {
  return writeConfig(
    [
      'version: 1',
      'topology: diverged-left',
      nodesYaml(cluster().nodes),
      'publications:',
      '  dl_pub:',
      '    node: east',
      `    tables: [${tables.join(', ')}]`,
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [dl_pub]',
      '',
    ].join('\n'),
  );
}

interface Sub {
  name: string;
  state: string;
  error: string | null;
  divergedTables: string[];
}

async function subscription(): Promise<Sub> {
  const r = await steep(['status', '--json']);
  return (JSON.parse(r.stdout) as { subscriptions: Sub[] }).subscriptions.find((s) => s.name === SUB)!;
}

describe('diverged tables that leave the subscription', () => {
  it('are no repair to print; the verify status names settles the subscription under writes', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      for (const t of ['a', 'b']) {
        await n.query(`CREATE TABLE public.${t} (id bigserial PRIMARY KEY, v text NOT NULL)`);
        await n.query(`GRANT SELECT, INSERT ON public.${t} TO ${APP.user}`);
        await n.query(`GRANT USAGE ON SEQUENCE public.${t}_id_seq TO ${APP.user}`);
      }
    }
    for (const t of ['a', 'b'])
      await east.query(`INSERT INTO public.${t} (v) SELECT md5(g::text) FROM generate_series(1, 200) g`);
    path = config(['public.a', 'public.b']);
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

    const writer = startIdWriter({ east }, APP, 'public.a', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked().length > 20, HANG_MS, 'writes on east');
      // a row of public.b gone from west: verify finds b diverged
      await west.query('DELETE FROM public.b WHERE id = 7');
      const found = await steep(['verify', SUB]);
      expect(found.code, found.stdout).toBe(2);
      expect(await subscription()).toMatchObject({ state: 'diverged', divergedTables: ['public.b'] });

      // public.b leaves the subscription
      path = config(['public.a']);
      const left = await steep(['apply', '--auto-approve']);
      expect(left.code, `${left.stdout}\n${left.stderr}`).toBe(0);
      const sub = await subscription();
      expect(sub.state).toBe('diverged');
      expect(sub.divergedTables, 'no repair of a table it no longer carries').toEqual([]);
      const way = `\`steep verify ${SUB}\``;
      expect(sub.error).toContain(
        `the tables a verify found diverged (public.b) left the subscription: ${way}`,
      );
      const check = await steep(['status', '--check']);
      expect(check.code).toBe(2);
      expect(check.stdout).toContain(way);
      expect(check.stdout).not.toContain('--tables public.b');
      const init = await steep(['init', 'status', SUB]);
      expect(init.stdout).not.toMatch(/diverged\s+public\.b/);

      // followed literally: the verify of what it carries settles it
      const settled = await steep(['verify', SUB]);
      expect(settled.code, settled.stdout).toBe(0);
      await untilHealthy(steep);
      expect(await subscription()).toMatchObject({ state: 'synchronized', divergedTables: [] });
      const n = acked().length;
      await eventually(async () => acked().length > n + 20, HANG_MS, 'writes after the verify');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ['a'])).toEqual(await digests(east, ['a']));
    const lost = await idsMissing(west, 'public.a', acked());
    console.log(`divergedLeft: acknowledged ${acked().length}; missing on west ${lost}`);
    expect(lost).toBe(0);
  }, 180_000);
});
