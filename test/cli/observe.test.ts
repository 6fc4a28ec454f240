import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { parseMermaid } from '../support/graphSyntax.js';
import { createTables, digests, fillTables } from '../support/replicationData.js';
import { HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Plans without database access, on real PostgreSQL 18 and 14: `steep observe` captures what
 * `plan` reads, without a password; `plan --observed` (run with no password in the environment)
 * gives exactly the live plan's steps and says it was made from a capture; `apply` of such a
 * saved plan runs when the nodes still match the capture (rows arrive, re-plan empty) and
 * refuses, changing nothing, when a node's catalog moved on. `steep graph --live` draws what the
 * nodes hold, with the unmanaged publication dashed.
 */

interface JsonPlan {
  steps: Array<{ address: string; action: string; sql: string[]; catalogDigest: string }>;
  observed: { capture?: { takenAt: string; nodes: Record<string, string> } };
}

describe.each(testVersions())('observe and plan --observed on PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const nodes = () => cluster().nodes as [TestNode, TestNode];
  const TABLES = [
    { name: 'ci_orders', rows: 3000 },
    { name: 'ci_items', rows: 1500 },
  ];

  /** steep with every node's password in the environment (live), or with none (`offline`). */
  const steep = steepWith({ env: () => passwordEnv(nodes()) });
  const steepOffline = steepWith({});

  function config(tables: string[], subscriptionExtra: string[] = []): string {
    return writeConfig(
      [
        'version: 1',
        'topology: observe-test',
        nodesYaml(nodes()),
        'publications:',
        '  ci_pub:',
        '    node: east',
        `    tables: [${tables.join(', ')}]`,
        'subscriptions:',
        '  ci_sub:',
        '    node: west',
        '    from: east',
        '    publications: [ci_pub]',
        ...subscriptionExtra,
        '',
      ].join('\n'),
    );
  }

  const capture = (file: string) => join(file, '..', 'observed.json');

  test('observe captures every node without a secret; plan --observed gives the live plan, marked as such', async () => {
    const [east, west] = nodes();
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    await east.query('CREATE PUBLICATION legacy_pub FOR TABLE public.ci_items');
    const file = config(['public.ci_orders']);
    const observed = await steep(['observe', '--out', capture(file), '-c', file]);
    expect(observed.code, observed.stderr).toBe(0);
    expect(observed.stdout).toMatch(/^Captured 2 nodes at \S+ into .*observed\.json: east \(sha256:/);
    const text = readFileSync(capture(file), 'utf8');
    for (const n of nodes()) expect(text).not.toContain(n.password);
    expect(statSync(capture(file)).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(text) as {
      takenAt: string;
      nodes: Record<string, { digest: string; serverVersion: number }>;
    };
    expect(Object.keys(doc.nodes)).toEqual(['east', 'west']);
    expect(Math.floor(doc.nodes.east!.serverVersion / 10000)).toBe(version);

    const t0 = Date.now();
    const live = await steep(['plan', '--json', '-c', file]);
    const liveMs = Date.now() - t0;
    const t1 = Date.now();
    const offline = await steepOffline(['plan', '--json', '--observed', capture(file), '-c', file]);
    const offlineMs = Date.now() - t1;
    console.log(`plan: live ${liveMs} ms, --observed ${offlineMs} ms (PostgreSQL ${version})`);
    expect(live.code, live.stderr).toBe(0);
    expect(offline.code, offline.stderr).toBe(0);
    const livePlan = JSON.parse(live.stdout) as JsonPlan;
    const offlinePlan = JSON.parse(offline.stdout) as JsonPlan;
    expect(livePlan.steps.map((s) => `${s.action} ${s.address}`)).toContain('create subscription.ci_sub');
    expect(offlinePlan.steps).toEqual(livePlan.steps);
    expect(offlinePlan.observed.capture).toEqual({
      takenAt: doc.takenAt,
      nodes: { east: doc.nodes.east!.digest, west: doc.nodes.west!.digest },
    });
    expect(livePlan.observed.capture).toBeUndefined();

    const md = await steepOffline([
      'plan',
      '--format',
      'markdown',
      '--graph',
      '--observed',
      capture(file),
      '-c',
      file,
    ]);
    expect(md.stdout).toContain(`Planned against a capture taken at ${doc.takenAt} (`);
    const mermaid = md.stdout.split('```mermaid\n')[1]!.split('\n```')[0]!;
    const graph = parseMermaid(mermaid);
    expect([...graph.vertices.values()].map((v) => v.label.split('\n')[0])).toEqual([
      'east',
      'west',
      'ci_pub',
      'legacy_pub',
    ]);
    expect(graph.vertices.get('p0')!.cls).toBe('create');
    expect(graph.vertices.get('p1')!.cls).toBe('unmanaged');

    const textGraph = await steepOffline(['plan', '--graph', '--observed', capture(file), '-c', file]);
    expect(textGraph.code).toBe(1);
    expect(textGraph.stderr).toBe('error: --graph draws into the Markdown plan: add --format markdown\n');

    // a capture of another topology, or a file that is not one, is refused in one sentence
    const other = writeConfig(
      readFileSync(file, 'utf8').replace('topology: observe-test', 'topology: other'),
    );
    const wrong = await steepOffline(['plan', '--observed', capture(file), '-c', other]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('is a capture of topology observe-test, but');
    if (version >= 15) {
      // a row filter the capture never asked PostgreSQL about cannot be compared: refused, not guessed
      const filtered = config(['{ name: public.ci_orders, where: "id > 100" }']);
      const unread = await steepOffline(['plan', '--observed', capture(file), '-c', filtered]);
      expect(unread.code).toBe(1);
      expect(unread.stderr).toContain(
        'publication.ci_pub: the row filter `id > 100` of public.ci_orders is not in the capture',
      );
    }
    const notCapture = await steepOffline(['plan', '--observed', file, '-c', file]);
    expect(notCapture.code).toBe(1);
    expect(notCapture.stderr).toMatch(/cannot read capture .*steep\.yaml/);
  }, 120_000);

  test('apply of a plan made from a capture runs while the nodes match it, and refuses once a catalog moved on', async () => {
    const [east, west] = nodes();
    // the topology as it is in production, applied live
    const first = await steep(['apply', '--auto-approve', '-c', config(['public.ci_orders'])]);
    expect(first.code, first.stderr).toBe(0);

    // a pull request adds a table: planned in CI from a capture, applied after merge
    const pr = config(['public.ci_orders', 'public.ci_items']);
    expect((await steep(['observe', '--out', capture(pr), '-c', pr])).code).toBe(0);
    const planFile = join(pr, '..', 'plan.json');
    const planned = await steepOffline(['plan', '--observed', capture(pr), '--out', planFile, '-c', pr]);
    expect(planned.code, planned.stderr).toBe(0);
    const savedPlan = readFileSync(planFile, 'utf8');
    for (const n of nodes()) expect(savedPlan).not.toContain(n.password);
    expect((JSON.parse(savedPlan) as JsonPlan).steps.map((s) => `${s.action} ${s.address}`)).toEqual([
      'update publication.ci_pub',
      'update subscription.ci_sub',
    ]);
    const applied = await steep(['apply', planFile, '-c', pr]);
    expect(applied.code, applied.stderr).toBe(0);
    const names = TABLES.map((t) => t.name);
    const caughtUp = async () =>
      JSON.stringify(await digests(west, names)) === JSON.stringify(await digests(east, names));
    const deadline = Date.now() + HANG_MS;
    while (!(await caughtUp()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await digests(west, names)).toEqual(await digests(east, names));
    expect((await digests(west, names)).ci_items!.count).toBe(1500);
    const again = await steep(['plan', '--detailed-exitcode', '-c', pr]);
    expect(again.code, again.stdout).toBe(0);
    // the new table's copy over (ready, its sync slot and origin gone): a capture taken while it
    // ends would differ from the nodes once it has, whatever else changes
    let settled = false;
    for (const until = Date.now() + HANG_MS; !settled && Date.now() < until; ) {
      const [syncing] = await west.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_subscription_rel WHERE srsubstate <> 'r'",
      );
      const [slots] = await east.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name LIKE 'pg\\_%\\_sync\\_%'",
      );
      const [origins] = await west.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_replication_origin WHERE roname ~ '^pg_[0-9]+_[0-9]+$'",
      );
      settled = syncing!.n + slots!.n + origins!.n === 0;
      if (!settled) await new Promise((r) => setTimeout(r, 100));
    }
    expect(settled).toBe(true);

    // the next change is planned from a fresh capture; then someone adds a publication by hand
    const next = config(['public.ci_orders', 'public.ci_items'], ['    options: { binary: true }']);
    expect((await steep(['observe', '--out', capture(next), '-c', next])).code).toBe(0);
    const nextPlan = join(next, '..', 'plan.json');
    const p2 = await steepOffline(['plan', '--observed', capture(next), '--out', nextPlan, '-c', next]);
    expect(p2.code, p2.stderr).toBe(0);
    await east.query('CREATE PUBLICATION hand_made_pub FOR TABLE public.ci_orders');
    const refused = await steep(['apply', nextPlan, '-c', next]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the plan was made against a capture taken at');
    expect(refused.stderr).toContain("east's catalog differs from the capture; nothing was changed");
    const [sub] = await west.query<{ subbinary: boolean }>(
      "SELECT subbinary FROM pg_subscription WHERE subname = 'ci_sub'",
    );
    expect(sub!.subbinary).toBe(false);

    // the live graph: versions, the subscription's state, unmanaged publications dashed
    const graph = await steep(['graph', '--live', '--format', 'json', '-c', next]);
    expect(graph.code, graph.stderr).toBe(0);
    const g = JSON.parse(graph.stdout) as {
      nodes: Array<{ name: string; serverVersion: number }>;
      publications: Array<{ name: string; unmanaged: boolean }>;
      subscriptions: Array<{ name: string; state: string; init: string }>;
    };
    expect(g.nodes.map((n) => Math.floor(n.serverVersion / 10000))).toEqual([version, version]);
    expect(g.publications.map((p) => [p.name, p.unmanaged])).toEqual([
      ['ci_pub', false],
      ['hand_made_pub', true],
      ['legacy_pub', true],
    ]);
    expect(g.subscriptions).toMatchObject([{ name: 'ci_sub', state: 'synchronized', init: 'snapshot' }]);
    const mermaid = await steep(['graph', '--live', '-c', next]);
    expect(parseMermaid(mermaid.stdout).edges.filter((e) => e.op === '-.-')).toHaveLength(2);
    // without --live nothing connects: no password needed
    const offlineGraph = await steepOffline(['graph', '--format', 'dot', '-c', next]);
    expect(offlineGraph.code, offlineGraph.stderr).toBe(0);
    expect(offlineGraph.stdout).toMatch(/^digraph "steep observe-test" \{/);
  }, 240_000); // fifteen steep commands and an apply with its copy, on 2 shared cores
});
