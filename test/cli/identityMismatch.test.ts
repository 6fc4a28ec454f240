import { describe, expect, it } from 'vitest';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The subscriber finds the row an UPDATE or DELETE names by its own replica identity (else its
 * primary key), and PostgreSQL's apply worker refuses a change whose old key lacks one of those
 * columns ("publisher did not send replica identity column expected by the logical replication
 * target relation", src/backend/replication/logical/relation.c): a publisher identifying rows
 * `USING INDEX` on another column stops the subscription at its first UPDATE. Before, plan said
 * "No changes" beside "replication has stopped" and status "failing", the cause never named.
 * Now plan refuses such a subscription before it exists, and warns naming the cause where one
 * fails; the printed way out, followed literally, converges: rows equal on both sides.
 */
const SUB = 'im_sub';
const TABLES = ['im_t', 'im_u'];

const config = (nodes: TestNode[]) =>
  writeConfig(
    [
      'version: 1',
      'topology: identity-mismatch',
      nodesYaml(nodes),
      'publications:',
      '  im_pub: { node: east, tables: [public.im_t, public.im_u] }',
      'subscriptions:',
      `  ${SUB}: { node: west, from: east, publications: [im_pub] }`,
      '',
    ].join('\n'),
  );

const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** The subscriber-side way out the message prints for `table`: its two statements, run as printed. */
function wayOnWest(text: string, table: string): string[] {
  const m = new RegExp(
    `find rows by the columns east sends: (CREATE UNIQUE INDEX \\S+ ON "public"\\."${table}" \\([^)]*\\)); (ALTER TABLE "public"\\."${table}" REPLICA IDENTITY USING INDEX "[^"]+")`,
  ).exec(text);
  expect(m, text).not.toBeNull();
  return [m![1]!, m![2]!];
}

/** Inserts, updates and deletes on east, as an application would. */
async function write(east: TestNode, table: string, from: number): Promise<void> {
  await east.query(
    `INSERT INTO public.${table} SELECT g, 'c' || g, 'new' FROM generate_series($1::int, $1::int + 49) g`,
    [from],
  );
  await east.query(`UPDATE public.${table} SET v = 'updated ' || id WHERE id % 7 = 0`);
  await east.query(`DELETE FROM public.${table} WHERE id % 11 = 0`);
}

describe.each([18, 16] as const)('a replica identity the subscriber cannot use (%i)', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  it('plan refuses the subscription naming the cause; then warns where one fails; each way out, followed, converges', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    for (const n of [east, west])
      for (const t of TABLES)
        await n.query(
          `CREATE TABLE public.${t} (id bigint PRIMARY KEY, code text NOT NULL, v text NOT NULL)`,
        );
    await east.query('CREATE UNIQUE INDEX im_t_code ON public.im_t (code)');
    await east.query('ALTER TABLE public.im_t REPLICA IDENTITY USING INDEX im_t_code');
    for (const t of TABLES)
      await east.query(`INSERT INTO public.${t} SELECT g, 'c' || g, 'v' FROM generate_series(1, 200) g`);
    const path = config(cluster().nodes);
    const steep = steepWith({
      config: () => path,
      env: () => passwordEnv(cluster().nodes),
      timeoutMs: 120_000,
    });

    // before the subscription exists: refused, nothing created
    const refused = await steep(['plan']);
    expect(refused.code, out(refused)).toBe(1);
    expect(out(refused)).toMatch(
      /west: subscription im_sub finds the rows of public\.im_t that an UPDATE or DELETE names by its primary key \(id\), but east sends their replica identity \(code\): PostgreSQL stops the subscription at the first UPDATE or DELETE of it; on west, find rows by the columns east sends/,
    );
    expect(out(refused)).not.toContain('public.im_u');
    for (const sql of wayOnWest(out(refused), 'im_t')) await west.query(sql);
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, out(applied)).toBe(0);
    await write(east, 'im_t', 1000);
    await write(east, 'im_u', 1000);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));

    // the publisher's identity changed by hand under a live subscription: it stops at the next UPDATE
    await east.query('CREATE UNIQUE INDEX im_u_code ON public.im_u (code)');
    await east.query('ALTER TABLE public.im_u REPLICA IDENTITY USING INDEX im_u_code');
    await write(east, 'im_u', 2000);
    await eventually(
      async () => (await steep(['status', '--check'])).code === 2,
      HANG_MS,
      'the subscription to fail on the UPDATE',
    );
    const warned = await steep(['plan']);
    expect(warned.code, out(warned)).toBe(0);
    expect(out(warned)).toMatch(
      /west: subscription im_sub finds the rows of public\.im_u that an UPDATE or DELETE names by its primary key \(id\), but east sends their replica identity \(code\): PostgreSQL stops the subscription at every UPDATE or DELETE of it \(it retries and fails again until fixed\); on west, find rows by the columns east sends: .* \(the changes already sent then apply too\)/,
    );
    for (const sql of wayOnWest(out(warned), 'im_u')) await west.query(sql);
    await write(east, 'im_u', 3000);
    await waitCaughtUp(east, SUB);
    expect(await digests(west, TABLES)).toEqual(await digests(east, TABLES));
    const clean = await steep(['plan']);
    expect(clean.code, out(clean)).toBe(0);
    expect(out(clean)).not.toContain('finds the rows of');
  }, 180_000);
});
