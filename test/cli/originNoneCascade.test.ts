import { describe, expect, it } from 'vitest';
import { idsGoOn, startIdInsertWriter } from '../support/appWriter.js';
import { type CliResult, steepWith, untilHealthy, writeConfig } from '../support/cli.js';
import { type TestCluster, type TestNode, useCluster } from '../support/cluster.js';
import { digestsByName, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A cascade east → north → west (issue 80): west's subscription from north switched from
 * `origin: any` to `origin: none` stops receiving what north applies from east. In steep.yaml,
 * the plan names it as hazard data-gap on its ALTER, apply refuses it unless allowed, and once
 * allowed, status, status --check and drift name the table until it is copied again. By hand, the
 * next status names it as a gap (model/originFilter.ts), and its printed way out converges under
 * an application's writes on east with no acknowledged id lost.
 */
const shown = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

const count = async (n: TestNode) =>
  Number((await n.query<{ c: string }>('SELECT count(*)::text AS c FROM public.t'))[0]!.c);

/** What `status --json` says of west_from_north: its state and its reasons, one a line. */
async function westVerdict(steep: (args: string[]) => Promise<CliResult>) {
  const status = await steep(['status', '--json']);
  const sub = (
    JSON.parse(status.stdout) as {
      subscriptions: Array<{ name: string; state: string; verdict: { reasons: string[] } | null }>;
    }
  ).subscriptions.find((s) => s.name === 'west_from_north');
  return { state: sub?.state, reasons: sub?.verdict?.reasons.join('\n') ?? '', text: status.stdout };
}

/** The way out status --check printed: steep apply (origin any again), then the copy it names, as printed. */
async function applyThenCopy(steep: (args: string[]) => Promise<CliResult>, check: CliResult) {
  const back = await steep(['apply', '--auto-approve']);
  expect(back.code, shown(back)).toBe(0);
  const way = /`(steep reinit [^`]+)`/.exec(check.stdout)?.[1];
  expect(way, check.stdout).toBe('steep reinit west_from_north --tables public.t');
  const ran = await steep([...way!.replace(/^steep /, '').split(' '), '--auto-approve']);
  expect(ran.code, shown(ran)).toBe(0);
}

/** public.t on the three nodes, 100 rows on east. */
async function seeded(c: TestCluster) {
  const [east, north, west] = ['east', 'north', 'west'].map((n) => c.node(n)) as [
    TestNode,
    TestNode,
    TestNode,
  ];
  for (const n of c.nodes) await n.query('CREATE TABLE public.t (id bigserial PRIMARY KEY, v text NOT NULL)');
  await east.query("INSERT INTO public.t (v) SELECT 'seed' || g FROM generate_series(1, 100) g");
  return { nodes: c.nodes, east, north, west };
}

const cascade = (nodes: TestNode[], origin: 'any' | 'none') =>
  writeConfig(
    [
      'version: 1',
      'topology: origin-cascade',
      nodesYaml(nodes),
      'publications:',
      '  east_pub: { node: east, tables: [public.t] }',
      '  north_pub: { node: north, tables: [public.t] }',
      'subscriptions:',
      '  north_from_east: { node: north, from: east, publications: [east_pub] }',
      `  west_from_north: { node: west, from: north, publications: [north_pub], options: { origin: ${origin} } }`,
      '',
    ].join('\n'),
  );

describe.each([18, 16] as const)('origin none switched on below a subscriber (%i)', (version) => {
  const cluster = useCluster({ nodes: ['east', 'north', 'west'], version });

  it('is gated as data-gap, and status names the table it keeps from west until it is copied', async () => {
    const { nodes, east, north, west } = await seeded(cluster());
    const config = (origin: 'any' | 'none') => cascade(nodes, origin);
    let path = config('any');
    const steep = steepWith({ config: () => path, env: () => passwordEnv(nodes), timeoutMs: 180_000 });
    const first = await steep(['apply', '--auto-approve']);
    expect(first.code, shown(first)).toBe(0);
    await untilHealthy(steep);
    await eventually(async () => (await count(west)) === 100, HANG_MS, 'the seed rows on west');

    path = config('none');
    const plan = await steep(['plan']);
    expect(shown(plan)).toContain('data-gap');
    expect(shown(plan).replace(/\s+/g, ' ')).toContain(
      'north receives public.t through north_from_east from east',
    );
    const refused = await steep(['apply', '--auto-approve']);
    expect(refused.code, shown(refused)).not.toBe(0);
    expect(shown(refused)).toContain('--allow-hazard data-gap');
    const allowed = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
    expect(allowed.code, shown(allowed)).toBe(0);

    await east.query("INSERT INTO public.t (v) SELECT 'after' || g FROM generate_series(1, 42) g");
    await eventually(async () => (await count(north)) === 142, HANG_MS, 'the 42 rows on north');
    // what PostgreSQL does: they never reach west (an insert on north itself does)
    await north.query("INSERT INTO public.t (id, v) VALUES (100000, 'north')");
    await eventually(async () => (await count(west)) === 101, HANG_MS, "north's own row on west");
    expect(await count(west)).toBe(101);

    const sub = await westVerdict(steep);
    expect(sub.state, sub.text).toBe('gap');
    expect(sub.reasons).toMatch(/north receives public\.t through north_from_east from east/);
    const check = await steep(['status', '--check']);
    expect(check.code, shown(check)).toBe(2);
    expect(check.stdout).toContain('public.t');
    const drift = await steep(['drift']);
    expect(drift.code, shown(drift)).toBe(2);
    expect(drift.stdout).toContain('public.t');

    // the way out: origin any again, then the copy status --check prints
    path = config('any');
    await applyThenCopy(steep, check);
    await untilHealthy(steep);
    await eventually(async () => (await count(west)) === 143, HANG_MS, 'every row on west');
    expect(await digestsByName(west, ['t'])).toEqual(await digestsByName(north, ['t']));
    const calm = await steep(['drift']);
    expect(calm.code, shown(calm)).toBe(0);
    const empty = await steep(['plan']);
    expect(shown(empty)).toContain('No changes');
  }, 600_000);
});

const APP = { user: 'cascade_app', password: 'cascade-app-secret-1' };

describe.each([18, 16] as const)('origin none set by hand below a subscriber (%i)', (version) => {
  const cluster = useCluster({ nodes: ['east', 'north', 'west'], version });

  it('is a gap at the next status, and its printed way out converges under writes', async () => {
    const { nodes, east, north, west } = await seeded(cluster());
    await east.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}';
      GRANT INSERT, SELECT ON public.t TO ${APP.user}`);
    const path = cascade(nodes, 'any');
    const steep = steepWith({ config: () => path, env: () => passwordEnv(nodes), timeoutMs: 180_000 });
    const first = await steep(['apply', '--auto-approve']);
    expect(first.code, shown(first)).toBe(0);
    await untilHealthy(steep);
    const writer = startIdInsertWriter(
      east,
      APP,
      'INSERT INTO public.t (id, v) VALUES ($1::bigint, $1::text)',
    );
    try {
      await idsGoOn(writer, 'east', 20);
      await west.query('ALTER SUBSCRIPTION west_from_north SET (origin = none)');
      await idsGoOn(writer, 'east', 40);
      const sub = await westVerdict(steep);
      expect(sub.state, sub.text).toBe('gap');
      expect(sub.reasons).toContain(
        'west_from_north on west was set to origin = none by hand (steep.yaml says any), and north receives public.t through north_from_east from east',
      );
      const drift = await steep(['drift']);
      expect(drift.code, shown(drift)).toBe(2);
      expect(drift.stdout).toContain('public.t');
      const check = await steep(['status', '--check']);
      expect(check.code, shown(check)).toBe(2);
      // the way out as printed: steep apply first (origin back to any), then the copy
      expect(check.stdout.replace(/\s+/g, ' ')).toContain(
        "first run steep apply (it sets west_from_north's origin back to any as steep.yaml says), then copy it again",
      );
      await applyThenCopy(steep, check);
      await idsGoOn(writer, 'east', 20);
    } finally {
      await writer.stop();
    }
    expect(writer.lastError()).toBeNull();
    await untilHealthy(steep);
    await waitCaughtUp(east, 'north_from_east');
    await waitCaughtUp(north, 'west_from_north');
    const acked = writer.acknowledged().get('east') ?? [];
    console.log(
      `origin none by hand (${version}): acknowledged ${acked.length}, missing on west ${await idsMissing(west, 'public.t', acked)}`,
    );
    expect(await idsMissing(west, 'public.t', acked)).toBe(0);
    expect(await digestsByName(west, ['t'])).toEqual(await digestsByName(east, ['t']));
    const calm = await steep(['status', '--check']);
    expect(calm.code, shown(calm)).toBe(0);
  }, 600_000);
});
