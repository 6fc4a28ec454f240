import type { TestNode } from './cluster.js';

/**
 * The least-privileged roles of issue 36's role matrix, made as the cloud's own superuser:
 * `admin` is what RDS / Cloud SQL / Azure give their admin (NOSUPERUSER CREATEDB CREATEROLE
 * REPLICATION, pg_create_subscription on 16+, pg_monitor, pg_signal_backend, pg_read_all_data,
 * pg_write_all_data, CREATE on the database); `narrow` only LOGIN REPLICATION and
 * pg_create_subscription (16+). Both log in with ROLE_PASSWORD from ${env:ROLE_PGPASSWORD}.
 */

export const ROLE_PASSWORD = 'managed-role-pw';

/** The environment every steep call of a role file needs. */
export function roleEnv(): Record<string, string> {
  return { ROLE_PGPASSWORD: ROLE_PASSWORD };
}

export async function createManagedRoles(nodes: TestNode[], version: number): Promise<void> {
  for (const n of nodes) {
    await n.query(
      `CREATE ROLE admin LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION PASSWORD '${ROLE_PASSWORD}'`,
    );
    await n.query(`CREATE ROLE narrow LOGIN REPLICATION PASSWORD '${ROLE_PASSWORD}'`);
    await n.query('GRANT pg_monitor, pg_signal_backend, pg_read_all_data, pg_write_all_data TO admin');
    if (version >= 16) await n.query('GRANT pg_create_subscription TO admin, narrow');
    await n.query('GRANT CREATE ON DATABASE app TO admin');
  }
}

/** The `nodes:` block of a steep.yaml connecting to every node as `role`. */
export function roleNodesYaml(role: string, nodes: TestNode[]): string {
  return [
    'nodes:',
    ...nodes.flatMap((n) => [
      `  ${n.name}:`,
      `    url: postgres://${role}@127.0.0.1:${n.port}/app`,
      `    password: \${env:ROLE_PGPASSWORD}`,
    ]),
  ].join('\n');
}
