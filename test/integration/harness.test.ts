import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { startCluster, type TestCluster, testVersions, useCluster } from '../support/cluster.js';

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe.each(testVersions())('PostgreSQL %i', (version) => {
  const cluster = useCluster({ nodes: ['east', 'west'], version });

  test('nodes run the requested version with logical replication', async () => {
    const c = cluster();
    expect(c.nodes.map((n) => n.name)).toEqual(['east', 'west']);
    expect(new Set(c.nodes.map((n) => n.port)).size).toBe(2);
    for (const node of c.nodes) {
      expect(node.version).toBe(version);
      const [row] = await node.query<{ v: string; wal: string; db: string; usr: string }>(
        "SELECT current_setting('server_version_num') AS v, current_setting('wal_level') AS wal, current_database() AS db, current_user AS usr",
      );
      expect(Number(row?.v)).toBe(node.serverVersionNum);
      expect(Math.floor(node.serverVersionNum / 10000)).toBe(version);
      expect(row).toMatchObject({ wal: 'logical', db: 'app', usr: 'postgres' });
      expect(node.url).toBe(`postgres://postgres:${node.password}@127.0.0.1:${node.port}/app`);
      expect(node.connection).toMatchObject({
        host: '127.0.0.1',
        port: node.port,
        database: 'app',
        user: 'postgres',
      });
    }
  });

  test('TCP connections need the right password', async () => {
    const node = cluster().node('east');
    const client = await node.client();
    try {
      const { rows } = await client.query(
        "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'postgres'",
      );
      expect(rows).toEqual([{ scram: true }]);
    } finally {
      await client.end();
    }
    const viaUrl = new pg.Client({ connectionString: node.url });
    await viaUrl.connect();
    await viaUrl.end();
    const wrong = new pg.Client({ ...node.connection, password: `${node.password}x` });
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });
    await wrong.end().catch(() => {});
    const none = new pg.Client({ ...node.connection, password: '' });
    await expect(none.connect()).rejects.toThrow();
    await none.end().catch(() => {});
  });

  test('restart keeps data; stop closes the port', async () => {
    const node = cluster().node('west');
    await node.query('CREATE TABLE harness_restart (id int PRIMARY KEY)');
    await node.query('INSERT INTO harness_restart VALUES (1), (2)');
    await node.restart('immediate');
    expect(await node.query('SELECT count(*)::int AS n FROM harness_restart')).toEqual([{ n: 2 }]);
    await node.restart();
    await node.query('DROP TABLE harness_restart');
    await node.stop();
    expect(await refuses(node.port)).toBe(true);
    await node.restart();
    expect(await node.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('startCluster', () => {
  const started: TestCluster[] = [];
  afterAll(async () => {
    for (const c of started) await c.stop();
  });

  test.each(testVersions())('starts 2 nodes of %i quickly and stops them completely', async (version) => {
    const t0 = performance.now();
    const c = await startCluster({ nodes: 2, version });
    started.push(c);
    const ms = performance.now() - t0;
    console.log(`harness: 2-node PostgreSQL ${version} cluster started in ${Math.round(ms)} ms`);
    expect(c.nodes.map((n) => n.name)).toEqual(['n1', 'n2']);
    const ports = c.nodes.map((n) => n.port);
    const dirs = c.nodes.map((n) => n.dataDir);
    const t1 = performance.now();
    await c.stop();
    console.log(
      `harness: 2-node PostgreSQL ${version} cluster stopped in ${Math.round(performance.now() - t1)} ms`,
    );
    for (const port of ports) expect(await refuses(port)).toBe(true);
    const { existsSync } = await import('node:fs');
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  test('caller settings override the defaults', async () => {
    const c = await startCluster({
      nodes: ['solo'],
      settings: { wal_level: 'replica', max_replication_slots: '7' },
    });
    started.push(c);
    const rows = await c
      .node('solo')
      .query("SELECT current_setting('wal_level') AS wal, current_setting('max_replication_slots') AS slots");
    expect(rows).toEqual([{ wal: 'replica', slots: '7' }]);
    expect(() => c.node('nope')).toThrow(/no node nope/);
  });
});
