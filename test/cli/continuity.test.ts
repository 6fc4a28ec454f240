import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Continuity (docs/status.md, `gap`): a table whose publication membership broke while the apply
 * worker kept running is `gap` in status, status --check and drift until a copy of it (or a
 * verify) proves it whole. (a) the tutorial's drift scenario under an id-logging writer; (b) a
 * table dropped and added back by hand between two readings, found by its membership's row oid;
 * (c) steep's own row-filter change stays green; (d) a verify that finds the table equal clears
 * a gap.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const APP = { user: 'cont_app', password: 'cont-app-secret-1' };
const SUB = 'shop_sub';
let path = '';
const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

function config(where?: string): string {
  return writeConfig(
    [
      'version: 1',
      'topology: continuity',
      nodesYaml(cluster().nodes),
      'publications:',
      '  shop_pub:',
      '    node: east',
      '    tables:',
      '      - public.customers',
      where ? `      - { name: public.orders, where: "${where}" }` : '      - public.orders',
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [shop_pub]',
      '',
    ].join('\n'),
  );
}

interface Sub {
  name: string;
  state: string;
  verdict: { verdict: string; reasons: string[] } | null;
}

async function subStatus(): Promise<{ code: number; sub: Sub; text: string }> {
  const r = await steep(['status', '--json']);
  const sub = (JSON.parse(r.stdout) as { subscriptions: Sub[] }).subscriptions.find((s) => s.name === SUB)!;
  return { code: r.code, sub, text: r.stdout };
}

describe('continuity of publication membership (18)', () => {
  it('(a) a table out of its publication by hand: gap everywhere until the printed way out copies it', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.customers (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query('CREATE TABLE public.orders (id bigserial PRIMARY KEY, amount int NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.customers TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.customers_id_seq TO ${APP.user}`);
    }
    await east.query('INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 500) g');
    await east.query('INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 500) g');
    path = config();
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

    const writer = startIdWriter({ east }, APP, 'public.customers', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    try {
      await eventually(async () => acked().length > 20, HANG_MS, 'writes on east');
      await east.query('ALTER PUBLICATION shop_pub DROP TABLE public.customers');
      const out = acked().length;
      await eventually(async () => acked().length > out + 50, HANG_MS, 'writes while the table is out');

      // during the gap: status, --check and drift name the table
      const during = await subStatus();
      expect.soft(during.sub.state, during.text).toBe('gap');
      expect
        .soft(during.sub.verdict?.reasons.join('\n'))
        .toContain('public.customers left publication shop_pub on east');
      const checked = await steep(['status', '--check']);
      expect.soft(checked.code, checked.stdout).toBe(2);
      expect.soft(checked.stdout + checked.stderr).toContain('public.customers');
      const drift = await steep(['drift']);
      expect.soft(drift.code, drift.stdout).toBe(2);
      expect
        .soft(drift.stdout)
        .toMatch(/Gap \(changes never sent[\s\S]*public\.customers left publication shop_pub/);

      // the repair steep plans is gated: REFRESH will not copy a table the subscription still lists
      const plan = await steep(['plan']);
      expect.soft(plan.stdout + plan.stderr).toContain('data-gap');
      const refused = await steep(['apply', '--auto-approve']);
      expect.soft(refused.code, refused.stdout + refused.stderr).not.toBe(0);
      expect.soft(refused.stdout + refused.stderr).toContain('--allow-hazard data-gap');
      const repaired = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
      expect(repaired.code, `${repaired.stdout}\n${repaired.stderr}`).toBe(0);
      await eventually(async () => acked().length > out + 100, HANG_MS, 'writes after the repair');
      await writer.stop();
      await waitCaughtUp(east, SUB);
      const lost = await idsMissing(west, 'public.customers', acked());
      console.log(`(a) after apply: acknowledged ${acked().length}, missing on west ${lost}`);

      // still a gap: the rows written while it was out are not on west
      const after = await subStatus();
      expect(after.sub.state, after.text).toBe('gap');
      const check = await steep(['status', '--check']);
      expect(check.code, check.stdout).toBe(2);
      // the way out, as printed, followed literally
      const way = /`(steep reinit [^`]+)`/.exec(check.stdout)?.[1];
      expect(way, check.stdout).toBe(`steep reinit ${SUB} --tables public.customers`);
      // without a terminal, the confirmation reinit asks for is --auto-approve
      const ran = await steep([...way!.replace(/^steep /, '').split(' '), '--auto-approve']);
      expect(ran.code, `${ran.stdout}\n${ran.stderr}`).toBe(0);
      await untilHealthy(steep);
      const healthy = await subStatus();
      expect(healthy.sub.state).toBe('synchronized');
      await waitCaughtUp(east, SUB);
      expect(await digests(west, ['customers', 'orders'])).toEqual(
        await digests(east, ['customers', 'orders']),
      );
      const lostAfter = await idsMissing(west, 'public.customers', acked());
      console.log(`(a) after the way out: acknowledged ${acked().length}, missing on west ${lostAfter}`);
      expect(lostAfter).toBe(0);
      expect((await steep(['drift'])).code).toBe(0);
    } finally {
      await writer.stop();
    }

    // (b) dropped and added back by hand between two readings: the same list, a new membership
    await untilHealthy(steep);
    await east.query('ALTER PUBLICATION shop_pub DROP TABLE public.orders');
    await east.query('INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 7) g');
    await east.query('ALTER PUBLICATION shop_pub ADD TABLE public.orders');
    const b = await subStatus();
    expect(b.sub.state, b.text).toBe('gap');
    expect(b.sub.verdict?.reasons.join('\n')).toContain(
      'public.orders left and rejoined publication shop_pub on east',
    );
    expect((await steep(['status', '--check'])).code).toBe(2);
    expect((await steep(['drift'])).code).toBe(2);
    const copied = await steep(['reinit', SUB, '--auto-approve', '--tables', 'public.orders']);
    expect(copied.code, `${copied.stdout}\n${copied.stderr}`).toBe(0);
    await untilHealthy(steep);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ['customers', 'orders'])).toEqual(
      await digests(east, ['customers', 'orders']),
    );

    // (c) steep's own row-filter change re-creates the membership row, and leaves no gap
    const relOid = async () =>
      (
        await east.query<{ oid: string }>(
          "SELECT pr.oid::text AS oid FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = 'shop_pub' AND pr.prrelid = 'public.orders'::regclass",
        )
      )[0]!.oid;
    const before = await relOid();
    path = config('amount > 0');
    const filtered = await steep(['apply', '--auto-approve']);
    expect(filtered.code, `${filtered.stdout}\n${filtered.stderr}`).toBe(0);
    expect(filtered.stdout).toContain('WHERE');
    expect(await relOid()).not.toBe(before);
    await eventually(
      async () => ['synchronized', 'gap'].includes((await subStatus()).sub.state),
      HANG_MS,
      'a verdict after the row-filter change',
    );
    const c = await subStatus();
    expect(c.sub.state, c.text).toBe('synchronized');
    expect((await steep(['drift'])).code).toBe(0);

    // (d) out and back with nothing written meanwhile: a gap until a verify finds the table equal
    await east.query('ALTER PUBLICATION shop_pub DROP TABLE public.customers');
    await east.query('ALTER PUBLICATION shop_pub ADD TABLE public.customers');
    const d = await subStatus();
    expect(d.sub.state, d.text).toBe('gap');
    expect(d.sub.verdict?.reasons.join('\n')).toContain('a steep verify that finds it equal clears the gap');
    const verified = await steep(['verify', SUB]);
    expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    const cleared = await subStatus();
    expect(cleared.sub.state, cleared.text).toBe('synchronized');
    expect((await steep(['status', '--check'])).code).toBe(0);
  }, 900_000);
});
