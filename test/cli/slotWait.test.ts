import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, runSteep, startSteep, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * CREATE SUBSCRIPTION makes its slot on the publisher only once the transactions open there
 * have ended. A transaction left open on the publisher holds the step: apply says so, naming
 * the session (pid, application, role, how long), in its progress and as an
 * `apply.step_waiting` event, and goes on by itself once that transaction commits.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

function topology(subscriptions: string[]): string {
  return [
    'version: 1',
    'topology: slot-wait',
    nodesYaml(cluster().nodes),
    // one publication and table per subscription: two subscriptions of a node receiving one
    // table from one publisher would apply its changes twice, and the plan refuses that
    'publications:',
    ...subscriptions.flatMap((s) => [`  ${s}_pub:`, '    node: east', `    tables: [public.${s}_t]`]),
    'subscriptions:',
    ...subscriptions.flatMap((s) => [
      `  ${s}:`,
      '    node: west',
      '    from: east',
      `    publications: [${s}_pub]`,
      '    init:',
      '      method: none',
    ]),
    '',
  ].join('\n');
}

/** `steep apply` in the background: its output so far, and its end. */
function applyInBackground(args: string[], env: Record<string, string>) {
  const run = startSteep(['apply', '--auto-approve', ...args], env);
  return { out: run.output, done: run.exited.then((r) => r.code) };
}

describe('CREATE SUBSCRIPTION waiting for a transaction open on the publisher', () => {
  it('names the session it waits for, then goes on once it commits', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      for (const t of ['sw_a_t', 'sw_b_t'])
        await n.query(`CREATE TABLE public.${t} (id int PRIMARY KEY, v text)`);
    }
    const env = passwordEnv(cluster().nodes);
    const path = writeConfig(topology(['sw_a']));

    for (const [format, sub] of [
      ['json', 'sw_a'],
      ['text', 'sw_b'],
    ] as const) {
      writeFileSync(path, topology(format === 'json' ? ['sw_a'] : ['sw_a', 'sw_b']));
      const holder = await east.client();
      try {
        await holder.query("SET application_name = 'forgotten psql'");
        await holder.query('BEGIN');
        const [{ pid }] = (
          await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, txid_current()')
        ).rows as [{ pid: number }];
        const apply = applyInBackground(['-c', path, '--log-format', format], env);
        const said = new RegExp(
          `waiting on east: the slot is made once the transactions open there end: pid ${pid} \\(forgotten psql, role postgres, open for [^,]+, idle in transaction\\)`,
        );
        await eventually(
          async () => said.test(apply.out.stdout + apply.out.stderr),
          HANG_MS,
          `apply to name pid ${pid}`,
        );
        if (format === 'json') {
          const event = apply.out.stderr
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as { event: string; address?: string; level: string; message?: string })
            .find((e) => e.event === 'apply.step_waiting');
          expect(event).toMatchObject({ address: `subscription.${sub}`, level: 'warn' });
        }
        // still waiting, not failed: the step goes on once the transaction ends
        expect((await west.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [sub])).length).toBe(0);
        await holder.query('COMMIT');
        const code = await apply.done;
        expect(code, `${apply.out.stdout}\n${apply.out.stderr}`).toBe(0);
        expect(hasStackTrace(apply.out.stderr)).toBe(false);
      } finally {
        await holder.end().catch(() => {});
      }
      expect((await west.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [sub])).length).toBe(1);
    }
    const plan = await runSteep(['plan', '--detailed-exitcode', '-c', path], { env });
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
  });
});
