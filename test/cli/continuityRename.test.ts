import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { startSteep, steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A publication renamed (no `renamedFrom`) while its subscription is disabled (issue 62): the
 * slot of a disabled subscription cannot move, so the create step must not wait on it, and once
 * enabled with the new publication listed the changes decoded from before its creation would be
 * skipped. The plan is gated `data-gap` naming the subscription and table; its way out, followed
 * literally under an id-logging writer, loses nothing. The wait for an enabled, lagging
 * subscriber's slot ends at SIGTERM with nothing left waiting on the server. A hole opened by hand
 * (another publication listed while disabled) is a case of test/cli/gapCases.test.ts.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'ren_app', password: 'ren-app-secret-1' };
const SUB = 'shop_sub';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(publication: string, enabled: boolean): string {
  return writeConfig(
    [
      'version: 1',
      'topology: continuity-rename',
      nodesYaml(cluster().nodes),
      'publications:',
      `  ${publication}:`,
      '    node: east',
      '    tables: [public.customers]',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      `    publications: [${publication}]`,
      `    enabled: ${enabled}`,
      '',
    ].join('\n'),
  );
}

async function subState(): Promise<{ state: string; text: string }> {
  const r = await steep(['status', '--json']);
  const subs = (JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> })
    .subscriptions;
  return { state: subs.find((s) => s.name === SUB)!.state, text: r.stdout };
}

describe('a publication renamed while its subscription is disabled (18)', () => {
  it('is gated data-gap without waiting; the way out loses nothing', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.customers (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.customers TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.customers_id_seq TO ${APP.user}`);
    }
    await east.query('INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 300) g');
    path = config('shop_pub', true);
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);
    path = config('shop_pub', false);
    const disabled = await steep(['apply', '--auto-approve']);
    expect(disabled.code, `${disabled.stdout}\n${disabled.stderr}`).toBe(0);

    const writer = startIdWriter({ east }, APP, 'public.customers', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked().length > 30, HANG_MS, 'writes on east while disabled');

      // the rename while disabled: gated at plan, refused at apply without waiting on the slot
      path = config('shop_pub2', false);
      const plan = await steep(['plan']);
      const planned = plan.stdout + plan.stderr;
      expect(planned, planned).toContain('hazard data-gap');
      expect(planned).toMatch(/subscription shop_sub on west is disabled[^\n]*public\.customers/);
      const refused = await steep(['apply', '--auto-approve']);
      expect(refused.code, refused.stdout + refused.stderr).not.toBe(0);
      expect(refused.stdout + refused.stderr).toContain('--allow-hazard data-gap');
      expect(await east.query("SELECT 1 FROM pg_publication WHERE pubname = 'shop_pub2'")).toHaveLength(0);

      // the way out, literally: enabled with its publications as they are, then the rename
      path = config('shop_pub', true);
      const enabled = await steep(['apply', '--auto-approve']);
      expect(enabled.code, `${enabled.stdout}\n${enabled.stderr}`).toBe(0);
      await untilHealthy(steep);
      path = config('shop_pub2', true);
      const renamed = await steep(['apply', '--auto-approve', '--allow-destroy']);
      expect(renamed.code, `${renamed.stdout}\n${renamed.stderr}`).toBe(0);
      const at = acked().length;
      await eventually(async () => acked().length > at + 30, HANG_MS, 'writes after the rename');
      await writer.stop();
      await waitCaughtUp(east, SUB);
      const lost = await idsMissing(west, 'public.customers', acked());
      console.log(`rename after the way out: acknowledged ${acked().length}, missing on west ${lost}`);
      expect(lost).toBe(0);
      expect(await digests(west, ['customers'])).toEqual(await digests(east, ['customers']));
      await untilHealthy(steep);
      expect((await subState()).state).toBe('synchronized');
      expect((await steep(['drift'])).code).toBe(0);
    } finally {
      await writer.stop();
    }

    // the catch-up wait of a lagging, enabled subscriber is the client's: SIGTERM ends it, and
    // nothing of it goes on on east; the list is left as it is
    const holder = await west.client();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.customers IN ACCESS EXCLUSIVE MODE');
    await east.query("INSERT INTO public.customers (v) SELECT 'lag' || g FROM generate_series(1, 50) g");
    path = config('shop_pub4', true);
    const applying = startSteep(
      ['apply', '-c', path, '--auto-approve', '--allow-destroy', '--log-format', 'json'],
      passwordEnv(cluster().nodes),
    );
    try {
      await applying.when((e) => e.event === 'apply.step_waiting' && /shop_pub4/.test(String(e.message)));
      applying.child.kill('SIGTERM');
      const stopped = await applying.exited;
      expect(stopped.code, stopped.stderr).not.toBe(0);
      expect(stopped.stderr).toMatch(
        /publication shop_pub4 was created, but slot shop_sub has not confirmed/,
      );
      const waiting =
        "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'steep%' AND application_name <> 'steep-test' AND state = 'active'";
      await eventually(async () => (await east.query(waiting)).length === 0, HANG_MS, 'no wait left on east');
      const [listed] = await west.query<{ pubs: string[] }>(
        `SELECT subpublications AS pubs FROM pg_subscription WHERE subname = '${SUB}'`,
      );
      expect(listed!.pubs).toEqual(['shop_pub2']);

      // applied again as that message says, but before the subscriber has caught up: shop_pub4
      // exists now, so no create step waits; the switch to it must wait all the same
      const second = startSteep(
        ['apply', '-c', path, '--auto-approve', '--allow-destroy', '--log-format', 'json'],
        passwordEnv(cluster().nodes),
      );
      const outcome = await Promise.race([
        second
          .when((e) => e.event === 'apply.step_waiting' && /gains shop_pub4/.test(String(e.message)))
          .then(() => 'waiting'),
        second.exited.then((r) => `exited ${r.code} without waiting: ${r.stdout}\n${r.stderr}`),
      ]);
      expect(outcome).toBe('waiting');
      second.child.kill('SIGTERM');
      const stopped2 = await second.exited;
      expect(stopped2.code, stopped2.stderr).not.toBe(0);
      expect(stopped2.stderr).toMatch(
        /the publication list gains shop_pub4, which exists on east, but slot shop_sub has not confirmed/,
      );
      const [still] = await west.query<{ pubs: string[] }>(
        `SELECT subpublications AS pubs FROM pg_subscription WHERE subname = '${SUB}'`,
      );
      expect(still!.pubs).toEqual(['shop_pub2']);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
    // not waited for here: the apply's own wait lets the subscriber catch up before the switch
    const again = await steep(['apply', '--auto-approve', '--allow-destroy']);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ['customers'])).toEqual(await digests(east, ['customers']));
  }, 900_000);
});
