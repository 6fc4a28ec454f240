import { beforeAll, describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { steepWith, verifyJson, writeConfig } from '../support/cli.js';
import { type TestNode, testVersions, useCluster } from '../support/cluster.js';
import { MANAGED_PASSWORD, MANAGED_PASSWORD_ENV, nodesAs } from '../support/managedRoles.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { eventually, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep verify` run as the least-privileged role `steep grants` sets up, on tables with
 * row-level security (issue 79): a policy shows that role only some rows, so a comparison of
 * what it sees could call a table equal that lacks rows on the subscriber. A table with row
 * security the role does not bypass, on either node, is refused before any comparison, naming
 * the table, its policy and BYPASSRLS; with BYPASSRLS the same verify finds the rows missing.
 * A table whose row security is not forced is read whole by a member of its owner role (the
 * grants script's), and compared. On 18; STEEP_TEST_PG names others (16+: runAsOwner, without
 * which the owner's apply is refused where row security is forced).
 */
const versions: PgMajor[] = process.env.STEEP_TEST_PG ? testVersions().filter((v) => v >= 16) : [18];
const each = versions.length > 0 ? describe.each(versions) : describe.skip.each<PgMajor>([16]);
const SUB = 'rls';
const TABLES = ['rls_tenant', 'rls_west', 'rls_owned', 'rls_plain'];
const FIELDS = ['table', 'status', 'reason', 'rows', 'subscriberRows', 'missing', 'extra', 'different'];

each('verify on tables with row-level security, PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });
  const east = () => cluster().node('east');
  const west = () => cluster().node('west');
  const asSuperuser = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 240_000 });
  const asRunner = steepWith({ env: MANAGED_PASSWORD_ENV, timeoutMs: 240_000 });
  let superFile = '';
  let runnerFile = '';

  const topology = (nodes: string) =>
    [
      'version: 1',
      'topology: rls',
      nodes,
      'publications:',
      '  rls_pub:',
      '    node: east',
      `    tables: [${TABLES.map((t) => `public.${t}`).join(', ')}]`,
      'subscriptions:',
      `  ${SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [rls_pub]',
      // its workers apply as the subscription's owner (a superuser, who bypasses row security):
      // as each table's owner they would be refused where row security is forced
      '    options: { runAsOwner: true }',
      '',
    ].join('\n');

  /** Each table owned by tenant_owner; row security as the node's part of the case has it. */
  async function createTables(n: TestNode): Promise<void> {
    await n.query('CREATE ROLE tenant_owner NOLOGIN');
    for (const t of TABLES) {
      await n.query(`CREATE TABLE public.${t} (id bigint PRIMARY KEY, tenant text NOT NULL, v text)`);
      await n.query(`ALTER TABLE public.${t} OWNER TO tenant_owner`);
    }
    // the application's tenants: each session sees the rows of the tenant it names
    await n.query('ALTER TABLE public.rls_tenant ENABLE ROW LEVEL SECURITY');
    await n.query('ALTER TABLE public.rls_tenant FORCE ROW LEVEL SECURITY');
    await n.query(
      `CREATE POLICY tenant_isolation ON public.rls_tenant USING (tenant = current_setting('app.tenant', true))`,
    );
    // not forced: its owner (and a member inheriting it) reads every row
    await n.query('ALTER TABLE public.rls_owned ENABLE ROW LEVEL SECURITY');
    await n.query(`CREATE POLICY owned_policy ON public.rls_owned USING (tenant = 'a')`);
  }

  beforeAll(async () => {
    for (const n of [east(), west()]) await createTables(n);
    // on the subscriber only
    await west().query('ALTER TABLE public.rls_west ENABLE ROW LEVEL SECURITY');
    await west().query('ALTER TABLE public.rls_west FORCE ROW LEVEL SECURITY');
    await west().query(`CREATE POLICY west_reader ON public.rls_west USING (tenant = 'west')`);
    for (const [t, rows] of [
      ['rls_tenant', 500],
      ['rls_west', 200],
      ['rls_owned', 300],
      ['rls_plain', 100],
    ] as const)
      await east().query(
        `INSERT INTO public.${t} SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, md5(g::text) FROM generate_series(1, ${rows}) g`,
      );
    await east().query('ANALYZE');
    superFile = writeConfig(topology(nodesYaml([east(), west()])));
    const applied = await asSuperuser(['apply', '--auto-approve'], superFile);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    // the cloud's admin creates steep's runner and runs the script `steep grants` prints for it
    for (const n of [east(), west()])
      await n.query(`CREATE ROLE steep_runner LOGIN PASSWORD '${MANAGED_PASSWORD}'`);
    runnerFile = writeConfig(topology(nodesAs('steep_runner', [east(), west()])));
    const grants = await asRunner(['grants', '--json'], runnerFile);
    expect(grants.code, grants.stderr).toBe(0);
    for (const s of JSON.parse(grants.stdout).nodes as Array<{ node: string; lines: string[] }>)
      await cluster().node(s.node).query(s.lines.join('\n'));
    // on the subscriber (runAsOwner true asks for nothing there) the runner reads the tables as the
    // script's membership gives on the publisher: a member of their owner, inheriting its privileges
    await west().query('GRANT tenant_owner TO steep_runner');
    await eventually(async () => {
      const [r] = await west().query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_subscription_rel WHERE srsubstate <> 'r'`,
      );
      return r!.n === 0;
    });
    await waitCaughtUp(east(), SUB);
    // what a policy hides from steep_runner, lost on the subscriber
    await west().query('DELETE FROM public.rls_tenant WHERE id <= 89');
  }, 300_000);

  it('refuses, as a role that does not bypass them, the tables a policy filters on either node, naming the policy and BYPASSRLS; compares the rest', async () => {
    const run = await verifyJson(asRunner, SUB, [], FIELDS, runnerFile);
    expect(run.code, run.out).toBe(2);
    const byTable = Object.fromEntries(run.tables.map((t) => [t.table, t]));
    expect(byTable['public.rls_tenant']).toMatchObject({ status: 'not_verifiable', rows: 0 });
    const tenant = String(byTable['public.rls_tenant']!.reason);
    for (const word of ['public.rls_tenant', 'east', 'tenant_isolation', 'steep_runner', 'BYPASSRLS'])
      expect(tenant).toContain(word);
    const westOnly = String(byTable['public.rls_west']!.reason);
    expect(byTable['public.rls_west']!.status).toBe('not_verifiable');
    for (const word of ['public.rls_west', 'west', 'west_reader', 'BYPASSRLS'])
      expect(westOnly).toContain(word);
    // not forced: steep_runner inherits its owner's privileges, which see every row
    expect(byTable['public.rls_owned']).toMatchObject({ status: 'equal', rows: 300, subscriberRows: 300 });
    expect(byTable['public.rls_plain']).toMatchObject({ status: 'equal', rows: 100 });
    // the text never calls the refused table equal
    const text = await asRunner(['verify', SUB], runnerFile);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/public\.rls_tenant\s+not verifiable: .*tenant_isolation/);
  });

  it('with BYPASSRLS the same role compares every row and finds the 89 the subscriber lacks', async () => {
    for (const n of [east(), west()]) await n.query('ALTER ROLE steep_runner BYPASSRLS');
    try {
      const run = await verifyJson(asRunner, SUB, [], FIELDS, runnerFile);
      expect(run.code, run.out).toBe(2);
      const byTable = Object.fromEntries(run.tables.map((t) => [t.table, t]));
      expect(byTable['public.rls_tenant']).toMatchObject({
        status: 'diverged',
        rows: 500,
        subscriberRows: 411,
        missing: 89,
        extra: 0,
        different: 0,
      });
      expect(byTable['public.rls_west']).toMatchObject({ status: 'equal', rows: 200, subscriberRows: 200 });
      expect(run.state).toBe('diverged');
    } finally {
      for (const n of [east(), west()]) await n.query('ALTER ROLE steep_runner NOBYPASSRLS');
    }
    // as a superuser too
    const su = await verifyJson(asSuperuser, SUB, ['--tables', 'public.rls_tenant'], FIELDS, superFile);
    expect(su.tables).toEqual([expect.objectContaining({ status: 'diverged', missing: 89 })]);
  });
});
