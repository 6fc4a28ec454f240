import { describe, expect, it } from 'vitest';
import type { PlanFile } from '../../src/model/planFile.js';
import { startSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Each step runs with its own lock_timeout and statement_timeout (issue 52): a catalog change
 * waits at most settings.lockTimeout for its lock and runs at most settings.statementTimeout;
 * CREATE SUBSCRIPTION, which waits for the transactions open on the publisher, has no statement
 * timeout. Here settings.statementTimeout is 1 s: one for every step would cut that wait.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const env = () => passwordEnv(cluster().nodes);
const steep = steepWith({ env });

function config(): string {
  return [
    'version: 1',
    'topology: step-timeouts',
    'settings: { lockTimeout: 300ms, statementTimeout: 1s, schemaSync: auto }',
    nodesYaml(cluster().nodes),
    'publications:',
    '  st_pub: { node: east, tables: [public.st_t] }',
    'subscriptions:',
    '  st_sub: { node: west, from: east, publications: [st_pub] }',
    '',
  ].join('\n');
}

const created = async () =>
  (await cluster().node('west').query("SELECT 1 FROM pg_subscription WHERE subname = 'st_sub'")).length === 1;

describe('each step runs with its own timeouts', () => {
  it('CREATE SUBSCRIPTION waits past statementTimeout for a transaction open on the publisher; an ALTER TABLE behind a held lock fails after lockTimeout, naming its step', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) await n.query('CREATE TABLE public.st_t (id int PRIMARY KEY, v text)');
    await east.query("INSERT INTO public.st_t SELECT g, 'v' || g FROM generate_series(1, 50) g");
    const path = writeConfig(config());

    const plan = await steep(['plan', '--json'], path);
    expect(plan.code, plan.stderr).toBe(0);
    const steps = (JSON.parse(plan.stdout) as PlanFile).steps;
    const timeouts = Object.fromEntries(steps.map((s) => [`${s.action} ${s.address}`, s.timeouts]));
    expect(timeouts['create publication.st_pub']).toEqual({ lockMs: 300, statementMs: 1000 });
    expect(timeouts['create subscription.st_sub']).toEqual({ lockMs: 300, statementMs: 0 });
    expect((await steep(['plan'], path)).stdout).toContain('lock_timeout 300ms, statement_timeout none');

    // a transaction open on east holds CREATE SUBSCRIPTION's slot past the 1 s statementTimeout
    const holder = await east.client();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT txid_current()');
      const apply = startSteep(['apply', '--auto-approve', '-c', path], env());
      // one statement_timeout for every step would cut the wait: apply would end, failed
      let ended = '';
      void apply.exited.then((r) => {
        ended = `apply ended (${r.code}) while the transaction was open:\n${r.stdout}\n${r.stderr}`;
      });
      await eventually(
        async () => {
          if (ended) throw new Error(ended);
          const waited = await west.query(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE SUBSCRIPTION%' AND now() - query_start > interval '2 s'",
          );
          return waited.length === 1;
        },
        HANG_MS,
        'CREATE SUBSCRIPTION to have waited 2 s, twice statementTimeout',
      );
      expect(await created()).toBe(false);
      await holder.query('COMMIT');
      const done = await apply.exited;
      expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    } finally {
      await holder.end().catch(() => {});
    }
    expect(await created()).toBe(true);
    await eventually(
      async () =>
        JSON.stringify(await digests(east, ['st_t'])) === JSON.stringify(await digests(west, ['st_t'])),
      HANG_MS,
      'st_t equal on east and west',
    );

    // a column added on east: schemaSync auto adds it on west, an ALTER TABLE that waits at most 300 ms
    await east.query('ALTER TABLE public.st_t ADD COLUMN note text');
    const reader = await west.client();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM public.st_t');
      const refused = await steep(['apply', '--auto-approve'], path);
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stderr).toContain(
        'table.west/public.st_t on west: canceling statement due to lock timeout',
      );
    } finally {
      await reader.query('ROLLBACK').catch(() => {});
      await reader.end().catch(() => {});
    }
    const column = async () =>
      (
        await west.query(
          "SELECT 1 FROM information_schema.columns WHERE table_name = 'st_t' AND column_name = 'note'",
        )
      ).length;
    expect(await column()).toBe(0);
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await column()).toBe(1);
    await east.query("INSERT INTO public.st_t SELECT g, 'v' || g, 'n' || g FROM generate_series(51, 80) g");
    await eventually(
      async () =>
        JSON.stringify(await digests(east, ['st_t'])) === JSON.stringify(await digests(west, ['st_t'])),
      HANG_MS,
      'st_t equal on east and west after the column',
    );
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
  });
});
