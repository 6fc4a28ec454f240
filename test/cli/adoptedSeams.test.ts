import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  startWriter,
  waitCaughtUp,
  writesGoOn,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * No data loss at the seams (issue 35): a hand-made, streaming subscription adopted with `steep
 * import`, a writer running on its publisher. Its state is `synchronized` from its adoption in
 * every command (status, init status, verify), `diverged` once verify finds differences (status
 * --check unhealthy, reinit and verify --repair work on it); `init cancel` of it is a destroy
 * (--allow-destroy and a confirmation), and re-creating it with copy_data = false over the
 * window in which it had no slot is a data-gap plan error. Every command steep advises on the
 * way keeps every row: counts and checksums equal on both sides.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES = [
  { name: 'sa_accounts', rows: 3_000 },
  { name: 'sa_history', rows: 1_000 },
];
const NAMES = TABLES.map((t) => t.name);

interface Status {
  subscriptions: Array<{ name: string; state: string; tablesReady: number; tablesTotal: number }>;
  check?: { problems: string[] };
}

describe('an adopted streaming subscription', () => {
  it('is synchronized from adoption, diverged after verify, and every advised command keeps every row', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    await east.query('CREATE PUBLICATION sa_pub FOR TABLE public.sa_accounts, public.sa_history');
    const conn = `host=127.0.0.1 port=${east.port} dbname=app user=postgres password=${east.password}`;
    await west.query(`CREATE SUBSCRIPTION sa_sub CONNECTION '${conn}' PUBLICATION sa_pub`);
    await eventually(
      async () =>
        (await west.query(`SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'`)).length === 0 &&
        (await west.query('SELECT 1 FROM pg_subscription_rel')).length === 2,
      HANG_MS,
      'the hand-made subscription to be ready',
    );

    const env = passwordEnv(cluster().nodes);
    const nodesFile = writeConfig(['version: 1', 'topology: seams', nodesYaml([east, west]), ''].join('\n'));
    const file = join(dirname(nodesFile), 'steep.imported.yaml');
    const steep = steepWith({ config: file, env });
    const imported = await steep(['import', '--out', file], nodesFile);
    expect(imported.code, imported.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/sa_sub:\n(.*\n)*?\s+init:\n\s+method: none/);
    const adopted = await steep(['apply', '--auto-approve']);
    expect(adopted.code, adopted.stderr + adopted.stdout).toBe(0);

    const writer = startWriter(east, NAMES);
    try {
      // synchronized from its adoption, in every command at the same moment
      const status = await steep(['status', '--json']);
      const sub = (JSON.parse(status.stdout) as Status).subscriptions.find((s) => s.name === 'sa_sub')!;
      expect(sub.state).toBe('synchronized');
      const init = await steep(['init', 'status', 'sa_sub', '--json']);
      expect(init.code, init.stderr).toBe(0);
      expect((JSON.parse(init.stdout) as Array<{ state: string }>)[0]!.state).toBe('synchronized');
      const clean = await steep(['verify', 'sa_sub', '--json']);
      expect(clean.code, clean.stderr + clean.stdout).toBe(0);
      expect(JSON.parse(clean.stdout)).toMatchObject({ diverged: false, state: 'synchronized' });

      // divergence behind steep's back: rows deleted on the subscriber only
      await west.query('DELETE FROM public.sa_history WHERE id <= 40');
      const found = await steep(['verify', 'sa_sub', '--json']);
      expect(found.code, found.stderr + found.stdout).toBe(2);
      expect(JSON.parse(found.stdout)).toMatchObject({ diverged: true, state: 'diverged' });
      const check = await steep(['status', '--check', '--json']);
      expect(check.code, check.stdout + check.stderr).toBe(2);
      expect((JSON.parse(check.stdout) as Status).check!.problems).toContain(
        'subscription.sa_sub on west: diverged, not synchronized',
      );
      const initDiverged = await steep(['init', 'status', 'sa_sub', '--json']);
      expect((JSON.parse(initDiverged.stdout) as Array<{ state: string }>)[0]!.state).toBe('diverged');

      // init cancel of it is a destroy: refused without --allow-destroy, and without a confirmation
      const cancel = await steep(['init', 'cancel', 'sa_sub']);
      expect(cancel.code, cancel.stdout).toBe(1);
      expect(cancel.stderr).toContain('steep verify sa_sub --repair');
      expect(cancel.stderr).toContain('--allow-destroy');
      const unconfirmed = await steep(['init', 'cancel', 'sa_sub', '--allow-destroy']);
      expect(unconfirmed.code, unconfirmed.stdout).toBe(1);
      expect(unconfirmed.stderr).toContain('--auto-approve');
      expect((await west.query(`SELECT 1 FROM pg_subscription WHERE subname = 'sa_sub'`)).length).toBe(1);

      // the repair steep advises: verify --repair copies the diverged table again, the rest streams on
      const repaired = await steep(['verify', 'sa_sub', '--repair']);
      expect(repaired.code, repaired.stderr + repaired.stdout).toBe(0);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, 'sa_sub');
    expect(await digests(west, NAMES)).toEqual(await digests(east, NAMES));
    const healthy = await steep(['status', '--check']);
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);

    // the destroy, confirmed: the subscription and its slot go, the rows stay; writes go on meanwhile
    const writer2 = startWriter(east, NAMES, 20_000_000);
    try {
      const destroyed = await steep(['init', 'cancel', 'sa_sub', '--allow-destroy', '--auto-approve']);
      expect(destroyed.code, destroyed.stderr + destroyed.stdout).toBe(0);
      expect((await west.query(`SELECT 1 FROM pg_subscription WHERE subname = 'sa_sub'`)).length).toBe(0);
      // rows written while it has no slot
      await writesGoOn(writer2);
      // creating it again without a copy would lose what was written while it had no slot
      const refused = await steep(['plan']);
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stdout + refused.stderr).toMatch(/data-gap/);
      expect(refused.stdout + refused.stderr).toContain('existingData: truncate');
      const stillRefused = await steep(['apply', '--auto-approve']);
      expect(stillRefused.code).toBe(1);
      // the way past it the error names: a method that copies, emptying the tables first
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          /(sa_sub:\n(?:.*\n)*?\s+init:\n)(\s+)method: none/,
          '$1$2method: snapshot\n$2existingData: truncate',
        ),
      );
      const again = await steep(['apply', '--auto-approve', '--allow-hazard', 'truncates-data']);
      expect(again.code, again.stderr + again.stdout).toBe(0);
    } finally {
      await writer2.stop();
    }
    await waitCaughtUp(east, 'sa_sub');
    expect(await digests(west, NAMES)).toEqual(await digests(east, NAMES));
    const replan = await steep(['plan', '--detailed-exitcode']);
    expect(replan.code, replan.stdout).toBe(0);
  }, 240_000);
});
