import { expect } from 'vitest';
import type { TestNode } from './cluster.js';

/**
 * The least-privileged roles of issue 36's role matrix, as a managed PostgreSQL (RDS, Cloud SQL,
 * Azure) gives them: `admin` NOSUPERUSER CREATEDB CREATEROLE REPLICATION, pg_monitor,
 * pg_signal_backend, pg_read_all_data, pg_write_all_data, pg_create_subscription (16+) and CREATE
 * on the database; `narrow` only LOGIN REPLICATION and pg_create_subscription (16+). Each test
 * makes its tables and gives them to the role that owns them.
 */

export const MANAGED_PASSWORD = 'managed-role-pw';

/** The env var the nodes' password comes from in nodesAs()'s block. */
export const MANAGED_PASSWORD_ENV = { ROLE_PGPASSWORD: MANAGED_PASSWORD };

/** As postgres (the cloud's own superuser): the two roles on `node`. */
export async function createManagedRoles(node: TestNode): Promise<void> {
  await node.query(
    `CREATE ROLE admin LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION PASSWORD '${MANAGED_PASSWORD}'`,
  );
  await node.query(`CREATE ROLE narrow LOGIN REPLICATION PASSWORD '${MANAGED_PASSWORD}'`);
  await node.query('GRANT pg_monitor, pg_signal_backend, pg_read_all_data, pg_write_all_data TO admin');
  if (node.version >= 16) await node.query('GRANT pg_create_subscription TO admin, narrow');
  await node.query('GRANT CREATE ON DATABASE app TO admin');
}

/**
 * The `nodes:` block of a steep.yaml connecting to every node as `role`; with `sslrootcert`
 * (test/support/tlsServer.ts), to localhost with sslmode verify-full and that CA file.
 */
export function nodesAs(role: string, nodes: readonly TestNode[], sslrootcert?: string): string {
  return [
    'nodes:',
    ...nodes.flatMap((n) => [
      `  ${n.name}:`,
      ...(sslrootcert
        ? [
            '    host: localhost',
            `    port: ${n.port}`,
            '    database: app',
            `    user: ${role}`,
            '    sslmode: verify-full',
            `    sslrootcert: ${sslrootcert}`,
          ]
        : [`    url: postgres://${role}@127.0.0.1:${n.port}/app`]),
      `    password: \${env:ROLE_PGPASSWORD}`,
    ]),
  ].join('\n');
}

/** What steep made on `nodes`, counted as the superuser: publications, subscriptions, slots, origins. */
export async function madeObjects(
  nodes: readonly TestNode[],
): Promise<Record<string, { pubs: number; subs: number; slots: number; origins: number }>> {
  const out: Record<string, { pubs: number; subs: number; slots: number; origins: number }> = {};
  for (const n of nodes) {
    const [r] = await n.query<{ pubs: number; subs: number; slots: number; origins: number }>(
      `SELECT (SELECT count(*)::int FROM pg_publication) AS pubs,
              (SELECT count(*)::int FROM pg_subscription) AS subs,
              (SELECT count(*)::int FROM pg_replication_slots) AS slots,
              (SELECT count(*)::int FROM pg_replication_origin) AS origins`,
    );
    out[n.name] = r!;
  }
  return out;
}

/**
 * A steep.yaml as `role` on east and west: publication `sub`_pub of `tables` (in public) on
 * east, and subscription `sub` on west with `lines` under it (its init, options), or none;
 * `sslrootcert` as nodesAs takes it.
 */
export function oneWayYaml(
  role: string,
  nodes: readonly [TestNode, TestNode],
  sub: string,
  tables: readonly string[],
  lines: readonly string[] | null,
  sslrootcert?: string,
): string {
  return [
    'version: 1',
    `topology: managed-${sub}`,
    nodesAs(role, nodes, sslrootcert),
    'publications:',
    `  ${sub}_pub:`,
    '    node: east',
    `    tables: [${tables.map((t) => `public.${t}`).join(', ')}]`,
    ...(lines
      ? [
          'subscriptions:',
          `  ${sub}:`,
          '    node: west',
          '    from: east',
          `    publications: [${sub}_pub]`,
          ...lines,
        ]
      : []),
    '',
  ].join('\n');
}

/**
 * `tables` on `node`, each `public.NAME (id, v, n)` given to its role (`[name, owner]`); with
 * `serial`, its id a bigserial, whose sequence follows the table to the owner.
 */
export async function createOwnedTables(
  node: TestNode,
  tables: ReadonlyArray<readonly [string, string]>,
  id: 'bigint' | 'bigserial' = 'bigint',
): Promise<void> {
  for (const [t, owner] of tables) {
    await node.query(
      `CREATE TABLE public.${t} (id ${id} PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)`,
    );
    await node.query(`ALTER TABLE public.${t} OWNER TO ${owner}`);
  }
}

/** The plan errors of the narrow role, which lacks CREATE on the database (and before 16 may not subscribe). */
export function expectNarrowRefused(stderr: string, version: number): void {
  expect(stderr).toContain(
    `east: role narrow may not create steep's state schema steep (no CREATE on database app); run GRANT CREATE ON DATABASE "app" TO "narrow";`,
  );
  expect(stderr).toContain(
    'may not create publications (no CREATE on database app); GRANT CREATE ON DATABASE "app" TO "narrow"',
  );
  if (version < 16) expect(stderr).toContain('CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16');
}
