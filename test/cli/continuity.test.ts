import { describe, expect, it } from 'vitest';
import { steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Continuity (docs/status.md, `gap`): a table whose publication membership broke while the apply
 * worker kept running is `gap` until a copy of it (or a verify) proves it whole. The holes
 * themselves, under an id-logging writer, are cases of test/cli/gapCases.test.ts; here what must
 * not be one, and what clears one without a copy: (c) steep's own row-filter change re-creates
 * the membership row and stays green; (d) a verify that finds the table equal clears a gap.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
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
  it("steep's own row-filter change leaves no gap; a verify that finds the table equal clears one", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query('CREATE TABLE public.customers (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query('CREATE TABLE public.orders (id bigserial PRIMARY KEY, amount int NOT NULL)');
    }
    await east.query('INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 500) g');
    await east.query('INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 500) g');
    path = config();
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);

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
    await east.query('INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 20) g');
    await waitCaughtUp(east, SUB);
    expect(await digests(west, ['customers', 'orders'])).toEqual(
      await digests(east, ['customers', 'orders']),
    );
  }, 300_000);
});
