import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/sandbox/ports.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep plan` (and apply) on bad input, through the CLI against real PostgreSQL 18 nodes:
 * a publisher with wal_level = replica, unreachable nodes (refused, wrong password, unknown
 * database, a server that never answers), a table missing on the publisher, a table without
 * replica identity, and identifiers that need quoting.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const replica = useCluster({ nodes: ['rep'], settings: { wal_level: 'replica' } });

function nodes(): TestNode[] {
  return cluster().nodes;
}

const steep = steepWith({ env: () => passwordEnv(nodes()) });

function output(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/** A one-publication topology on east (and a subscription on west when `subscribe`). */
function topology(opts: { tables: string[]; publication?: string; subscribe?: string; nodes?: string }) {
  const pub = opts.publication ?? 'bad_pub';
  const lines = [
    'version: 1',
    'topology: plan-errors',
    opts.nodes ?? nodesYaml(nodes()),
    'publications:',
    `  ${pub}:`,
    '    node: east',
    '    tables:',
    ...opts.tables.map((t) => `      - ${JSON.stringify(t)}`),
  ];
  if (opts.subscribe) {
    lines.push(
      'subscriptions:',
      `  ${opts.subscribe}:`,
      '    node: west',
      '    from: east',
      `    publications: [${JSON.stringify(pub)}]`,
      `    slot: ${opts.subscribe.toLowerCase()}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('plan preflight on a node without logical WAL', () => {
  it('fails with exit 1 and says to set wal_level = logical and restart', async () => {
    const rep = replica().node('rep');
    await rep.query('CREATE TABLE public.t (id int PRIMARY KEY)');
    const path = writeConfig(
      [
        'version: 1',
        'topology: plan-errors',
        nodesYaml([rep]),
        'publications:',
        '  p:',
        '    node: rep',
        '    tables: [public.t]',
        '',
      ].join('\n'),
    );
    const r = await steep(['plan', '--detailed-exitcode'], path, passwordEnv([rep]));
    expect(r.code, output(r)).toBe(1);
    expect(output(r)).toContain('rep: wal_level is replica; set wal_level = logical and restart');
    // printed once, on stderr: the text plan ends with the count (docs/architecture.md, Output and errors)
    expect(output(r).split('wal_level = logical')).toHaveLength(2);
    expect(r.stderr).toContain('error: rep: wal_level is replica');
    expect(r.stdout).toContain('Plan failed: 1 error');
    const json = await steep(['plan', '--json'], path, passwordEnv([rep]));
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout);
    expect(doc.errors.map((e: { message: string }) => e.message).join('\n')).toContain('wal_level = logical');
    expect(json.stderr).toContain('wal_level = logical');
    // apply refuses it too, and changes nothing
    const a = await steep(['apply', '--auto-approve'], path, passwordEnv([rep]));
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('wal_level = logical');
    expect(await rep.query('SELECT 1 FROM pg_publication')).toHaveLength(0);
  });
});

describe('unreachable nodes', () => {
  let silent: net.Server;
  let silentPort = 0;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    // accepts TCP connections and never answers: a frozen host behind an open port
    silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
    for (const n of nodes()) await n.query('CREATE TABLE public.u_orders (id int PRIMARY KEY)');
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  /** The topology with west reached through `westUrl` (east stays reachable). */
  function withWest(westUrl: string, settings = ''): string {
    const east = cluster().node('east');
    return writeConfig(
      `${[
        'version: 1',
        'topology: plan-errors',
        settings,
        'nodes:',
        '  east:',
        `    url: postgres://postgres@127.0.0.1:${east.port}/app`,
        `    password: \${env:EAST_PGPASSWORD}`,
        '  west:',
        `    url: ${westUrl}`,
        `    password: \${env:WEST_PGPASSWORD}`,
        'publications:',
        '  u_pub:',
        '    node: east',
        '    tables: [public.u_orders]',
        'subscriptions:',
        '  u_sub:',
        '    node: west',
        '    from: east',
        '    publications: [u_pub]',
      ]
        .filter((l) => l !== '')
        .join('\n')}\n`,
    );
  }

  it('refused port: exit 1 naming the node and the cause', async () => {
    const port = await findFreePort();
    const r = await steep(['plan'], withWest(`postgres://postgres@127.0.0.1:${port}/app`));
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toMatch(/error: west: connection refused at 127\.0\.0\.1:\d+\/app/);
  });

  it('wrong password: exit 1 naming the node and the cause, without the password', async () => {
    const west = cluster().node('west');
    const env = { ...passwordEnv(nodes()), WEST_PGPASSWORD: 'not-the-password-4711' };
    const r = await steep(['plan'], withWest(`postgres://postgres@127.0.0.1:${west.port}/app`), env);
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toContain('west: password authentication failed for user postgres');
    expect(output(r)).not.toContain('not-the-password-4711');
  });

  it('unknown database: exit 1 naming the node and the database', async () => {
    const west = cluster().node('west');
    const r = await steep(['plan'], withWest(`postgres://postgres@127.0.0.1:${west.port}/no_such_db`));
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toContain('west: database no_such_db does not exist');
  });

  it('a server that never answers: exit 1 after settings.connectTimeout', async () => {
    const path = withWest(
      `postgres://postgres@127.0.0.1:${silentPort}/app`,
      'settings:\n  connectTimeout: 1s',
    );
    const r = await steep(['plan'], path);
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toMatch(
      /error: west: connection to 127\.0\.0\.1:\d+\/app as postgres timed out after 1s/,
    );
    // "after 1s": the file's timeout, not the 10 s default, is the one applied (how long the
    // command takes is not asserted: a loaded machine's CLI start alone can exceed it)
    const a = await steep(['apply', '--auto-approve'], path);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('west: connection to');
  });

  it('an unreachable node fails the plan even when only the other node has steps', async () => {
    const port = await findFreePort();
    const r = await steep(['plan', '--json'], withWest(`postgres://postgres@127.0.0.1:${port}/app`));
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.errors.some((e: { node?: string }) => e.node === 'west')).toBe(true);
  });
});

describe('tables the publisher cannot publish', () => {
  it('a table missing on the publisher is a plan error naming node and table', async () => {
    const r = await steep(['plan'], writeConfig(topology({ tables: ['public.no_such_table'] })));
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toMatch(/east: table public\.no_such_table does not exist \(publication bad_pub/);
  });

  it('a table without replica identity, updates published: error with the ALTER TABLE fix', async () => {
    await cluster().node('east').query('CREATE TABLE public."No Key" (a int, b text)');
    const r = await steep(['plan'], writeConfig(topology({ tables: ['public."No Key"'] })));
    expect(r.code, output(r)).toBe(1);
    expect(r.stderr).toContain(
      'east: table public."No Key" has no replica identity, but publication bad_pub publishes update and delete',
    );
    expect(output(r)).toContain('ALTER TABLE "public"."No Key" REPLICA IDENTITY FULL on east');

    // the fix it names works; insert-only publications need no identity at all
    await cluster().node('east').query('ALTER TABLE "public"."No Key" REPLICA IDENTITY FULL');
    const ok = await steep(['plan'], writeConfig(topology({ tables: ['public."No Key"'] })));
    expect(ok.code, output(ok)).toBe(0);
  });

  it('publishing inserts only needs no replica identity', async () => {
    await cluster().node('east').query('CREATE TABLE public.append_only (a int)');
    const path = writeConfig(
      topology({ tables: ['public.append_only'] }).replace(
        '    tables:',
        '    publish: [insert]\n    tables:',
      ),
    );
    const r = await steep(['plan'], path);
    expect(r.code, output(r)).toBe(0);
  });
});

describe('identifiers that need quoting', () => {
  const TABLES = [
    'CREATE SCHEMA "Sales-EU"',
    'CREATE TABLE public."Order Items" (id int PRIMARY KEY, "Sku" text)',
    'CREATE TABLE public."line-items" (id int PRIMARY KEY, qty int)',
    'CREATE TABLE "Sales-EU"."Customers" (id int PRIMARY KEY, name text)',
  ];

  it('plans quoted SQL, applies it, replicates, and re-plans empty', async () => {
    for (const n of nodes()) for (const sql of TABLES) await n.query(sql);
    const path = writeConfig(
      topology({
        publication: 'Quoted-Pub',
        subscribe: 'Quoted_Sub',
        tables: ['public."Order Items"', 'public.line-items', '"Sales-EU".Customers'],
      }),
    );
    const plan = await steep(['plan', '--detailed-exitcode'], path);
    expect(plan.code, output(plan)).toBe(2);
    expect(plan.stdout).toContain(
      'CREATE PUBLICATION "Quoted-Pub" FOR TABLE "Sales-EU"."Customers", "public"."Order Items", "public"."line-items"',
    );
    expect(plan.stdout).toMatch(
      /CREATE SUBSCRIPTION "Quoted_Sub" CONNECTION '[^']+' PUBLICATION "Quoted-Pub"/,
    );

    const a = await steep(['apply', '--auto-approve'], path);
    expect(a.code, output(a)).toBe(0);
    const east = cluster().node('east');
    const west = cluster().node('west');
    const rel = await east.query<{ t: string }>(
      "SELECT prrelid::regclass::text AS t FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = 'Quoted-Pub' ORDER BY 1",
    );
    expect(rel.map((r) => r.t)).toEqual(['"Order Items"', '"Sales-EU"."Customers"', '"line-items"']);
    await east.query(`INSERT INTO public."Order Items" VALUES (1, 'A-1')`);
    await east.query('INSERT INTO public."line-items" VALUES (1, 3)');
    await east.query(`INSERT INTO "Sales-EU"."Customers" VALUES (1, 'Ada')`);
    await eventually(
      async () =>
        (
          await west.query<{ n: string }>(
            `SELECT (SELECT count(*) FROM public."Order Items") + (SELECT count(*) FROM public."line-items") + (SELECT count(*) FROM "Sales-EU"."Customers") AS n`,
          )
        )[0]?.n === '3',
      HANG_MS,
      'rows in the quoted tables to replicate',
    );
    const again = await steep(['plan', '--detailed-exitcode'], path);
    expect(again.code, output(again)).toBe(0);

    // clean up so other tests in this file see no managed leftovers
    const off = await steep(
      ['apply', '--auto-approve', '--allow-destroy'],
      writeConfig(`version: 1\ntopology: plan-errors\n${nodesYaml(nodes())}\n`),
    );
    expect(off.code, output(off)).toBe(0);
    expect(
      await east.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'quoted_sub'"),
    ).toHaveLength(0);
  });
});
