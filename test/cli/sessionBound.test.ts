import { describe, expect, it } from 'vitest';
import { startSteep, writeConfig } from '../support/cli.js';
import { otherDatabase, useCluster } from '../support/cluster.js';
import { eventually, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * A fleet of many databases on one server (issue 82): a command that reads them all never holds
 * more than settings.maxConnections sessions at once, the sessions it keeps for the next
 * connect (db/connect.ts) included, and reads each database in one session. The most steep
 * sessions open at once are counted in pg_stat_activity, polled while `steep plan` runs in a
 * process of its own; the sessions opened per database in pg_stat_database.
 */
const cluster = useCluster({ nodes: ['east'] });
const DATABASES = 24;
const MAX = 4;

describe('sessions bounded over many databases of one server', { timeout: 300_000 }, () => {
  it(`plan over ${DATABASES} databases holds at most maxConnections (${MAX}) sessions at once`, async () => {
    const east = cluster().node('east');
    const names = Array.from({ length: DATABASES }, (_, i) => `sb_${i}`);
    await createFleet(names);
    const path = fleetConfig(east.port, names, MAX);

    const poller = await east.client();
    /** Sessions opened so far in each database of the fleet (pg_stat_database, flushed as each ends). */
    const opened = async () => {
      await poller.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await poller.query<{ db: string; n: number }>(
        `SELECT datname AS db, sessions::int AS n FROM pg_stat_database WHERE datname LIKE 'sb\\_%'`,
      );
      return new Map(rows.map((r) => [r.db, r.n]));
    };
    try {
      const before = await opened();
      const started = startSteep(['plan', '--detailed-exitcode', '-c', path], passwordEnv(cluster().nodes));
      let running = true;
      void started.exited.then(() => {
        running = false;
      });
      let peak = 0;
      let polls = 0;
      while (running) {
        const { rows } = await poller.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name LIKE 'steep%' AND datname LIKE 'sb\\_%'`,
        );
        peak = Math.max(peak, rows[0]!.n);
        polls++;
      }
      const exited = await started.exited;
      // exit 2: the publications are still to be created in every database
      expect(exited.code, exited.stderr).toBe(2);
      expect(exited.stdout).toContain(`${names.at(-1)}_pub`);
      expect(polls).toBeGreaterThan(1);
      expect(peak, `most steep sessions open at once (${polls} polls)`).toBeLessThanOrEqual(MAX);
      // and no database was read twice: one session each, the bound notwithstanding
      let each: number[] = [];
      await eventually(async () => {
        const after = await opened();
        each = names.map((db) => (after.get(db) ?? 0) - (before.get(db) ?? 0));
        return each.every((n) => n >= 1);
      });
      expect(each).toEqual(names.map(() => 1));
    } finally {
      await poller.end();
    }
  });

  // A session kept for the next connect does not hold the process open; one closed to make room
  // under the bound must, while it ends: with no other session in use, the process once ended
  // there, mid-plan, with exit code 0 and nothing printed (seen in CI: a drift check saying "no
  // changes" it never looked for). One session at a time makes every read after the first close one.
  it('plan under a bound of one session reads every database to the end, in a process of its own', async () => {
    const east = cluster().node('east');
    const names = Array.from({ length: 4 }, (_, i) => `sb1_${i}`);
    await createFleet(names);
    const path = fleetConfig(east.port, names, 1);
    for (let run = 0; run < 3; run++) {
      const exited = await startSteep(
        ['plan', '--detailed-exitcode', '-c', path],
        passwordEnv(cluster().nodes),
      ).exited;
      expect(exited.code, `run ${run}: ${exited.stderr}`).toBe(2);
      for (const db of names) expect(exited.stdout).toContain(`${db}_pub`);
    }
  });
});

async function createFleet(names: string[]): Promise<void> {
  const east = cluster().node('east');
  for (const db of names) {
    await east.query(`CREATE DATABASE ${db}`);
    await otherDatabase(east, db).query('CREATE TABLE public.sb_t (id bigint PRIMARY KEY, v text)');
  }
}

/** A file naming each database of the fleet as a node, with a publication in each. */
function fleetConfig(port: number, names: string[], max: number): string {
  const east = cluster().node('east');
  return writeConfig(
    [
      'version: 1',
      'topology: session-bound',
      'settings:',
      `  maxConnections: ${max}`,
      'nodes:',
      ...names.flatMap((db) => [
        `  ${db}:`,
        `    url: postgres://postgres@127.0.0.1:${port}/${db}`,
        `    password: \${env:${passwordVar(east)}}`,
      ]),
      'publications:',
      ...names.flatMap((db) => [`  ${db}_pub:`, `    node: ${db}`, '    tables: [public.sb_t]']),
      '',
    ].join('\n'),
  );
}
