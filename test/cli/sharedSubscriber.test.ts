import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { otherDatabase, type TestNode, useCluster } from '../support/cluster.js';
import {
  createTables,
  digests,
  fillTables,
  startWriter,
  waitCaughtUp,
  writesGoOn,
} from '../support/replicationData.js';
import { passwordEnv } from '../support/topologyFile.js';

/**
 * Two topologies share a subscriber database (issue 81): t1 is east/app → west/app, t2 is
 * east/shr3 (another database of east's server) → west/app. A node is its server plus its
 * database: t2 must not take t1's subscription, whose connection names east's server, for one
 * from its node east3, nor judge t1's publication dropped there; the state both topologies keep
 * on west/app must not get a gap for a subscription t2 does not manage.
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function topologyFile(name: string, publisher: string, database: string, table: string): string {
  const [east, west] = [cluster().node('east'), cluster().node('west')];
  return writeConfig(
    [
      'version: 1',
      `topology: ${name}`,
      'nodes:',
      `  ${publisher}:`,
      `    url: postgres://postgres@127.0.0.1:${east.port}/${database}`,
      `    password: \${env:EAST_PGPASSWORD}`,
      '  west:',
      `    url: postgres://postgres@127.0.0.1:${west.port}/app`,
      `    password: \${env:WEST_PGPASSWORD}`,
      'publications:',
      `  ${name}_pub:`,
      `    node: ${publisher}`,
      `    tables: [public.${table}]`,
      'subscriptions:',
      `  ${name}_sub:`,
      '    node: west',
      `    from: ${publisher}`,
      `    publications: [${name}_pub]`,
      '',
    ].join('\n'),
  );
}

describe('two topologies sharing a subscriber database', { timeout: 600_000 }, () => {
  it("each one's status and drift leave the other's subscription alone, and west records no gap", async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    await east.query('CREATE DATABASE shr3');
    const east3: TestNode = otherDatabase(east, 'shr3', 'east3');
    await createTables([east, west], [{ name: 'shr_one', rows: 0 }]);
    await createTables([east3, west], [{ name: 'shr_two', rows: 0 }]);
    await fillTables(east, [{ name: 'shr_one', rows: 5_000 }]);
    await fillTables(east3, [{ name: 'shr_two', rows: 5_000 }]);
    const t1 = topologyFile('shr1', 'east', 'app', 'shr_one');
    const t2 = topologyFile('shr2', 'east3', 'shr3', 'shr_two');

    const writers = [startWriter(east, ['shr_one']), startWriter(east3, ['shr_two'])];
    try {
      for (const path of [t1, t2]) {
        const applied = await steep(['apply', '--auto-approve'], path);
        expect(applied.code, applied.stdout + applied.stderr).toBe(0);
        expect(applied.stdout + applied.stderr).not.toMatch(/dropped on|shr1_sub .*east3/);
      }
      for (const w of writers) await writesGoOn(w);
      for (const [path, own, other] of [
        [t1, 'shr1_sub', 'shr2_sub'],
        [t2, 'shr2_sub', 'shr1_sub'],
      ] as const) {
        const status = await steep(['status', '--check'], path);
        const out = status.stdout + status.stderr;
        expect(status.code, out).toBe(0);
        expect(out).toContain(own);
        expect(out).not.toMatch(/dropped on|not in steep\.yaml|gap|reinit/);
        // the other topology's subscription is named as that topology's, never judged here
        for (const line of out.split('\n').filter((l) => l.includes(` ${other} `)))
          expect(line).toMatch(/west ← \?\s+\S+\s.*managed by steep topology shr[12]$/);
        const drift = await steep(['drift'], path);
        expect(drift.code, drift.stdout + drift.stderr).toBe(0);
        expect(drift.stdout + drift.stderr).not.toMatch(/gap|east3.*shr1|dropped on/);
        const plan = await steep(['plan', '--detailed-exitcode'], path);
        expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      }
    } finally {
      for (const w of writers) expect(await w.stop()).toBeGreaterThan(0);
    }
    expect(
      await west.query(
        `SELECT node_name, subscription, gap_reason FROM steep.stream_continuity WHERE gap_since IS NOT NULL`,
      ),
    ).toEqual([]);
    // a third topology over the same two databases, under other node names: both subscriptions
    // are another topology's, and its status records nothing of them in the state shared there
    const [eastPort, westPort] = [east.port, west.port];
    const t3 = writeConfig(
      [
        'version: 1',
        'topology: shr3',
        'nodes:',
        `  e: { url: "postgres://postgres@127.0.0.1:${eastPort}/app", password: "\${env:EAST_PGPASSWORD}" }`,
        `  w: { url: "postgres://postgres@127.0.0.1:${westPort}/app", password: "\${env:WEST_PGPASSWORD}" }`,
        '',
      ].join('\n'),
    );
    const third = await steep(['status'], t3);
    expect(third.stdout).toMatch(/shr1_sub +w ← e .*managed by steep topology shr1/);
    for (const table of ['stream_continuity', 'status_readings'])
      expect(await west.query(`SELECT subscription FROM steep.${table} WHERE node_name = 'w'`)).toEqual([]);
    await waitCaughtUp(east, 'shr1_sub');
    await waitCaughtUp(east3, 'shr2_sub');
    expect(await digests(west, ['shr_one'])).toEqual(await digests(east, ['shr_one']));
    expect(await digests(west, ['shr_two'])).toEqual(await digests(east3, ['shr_two']));
  });
});
