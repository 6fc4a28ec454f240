import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import type { Topology } from '../../../src/model/topology.js';
import { at, BASE, check, envRef } from './support.js';

const specExample = readFileSync(new URL('./fixtures/spec-example.yaml', import.meta.url));
const specEnv = {
  EAST_PGPASSWORD: 'east-secret',
  WEST_URL: 'postgres://steep@west.internal:5433/app?sslmode=require',
};
const pos = (line: number, column: number) => ({ file: 'steep.yaml', line, column });

describe('the SPEC §2 example', () => {
  it('normalises to the expected Topology, every default filled in', () => {
    const { topology, warnings } = parseTopology(specExample, 'steep.yaml', specEnv);
    const expected: Topology = {
      version: 1,
      topology: 'orders-eu',
      settings: {
        schemaSync: 'strict',
        stateSchema: 'steep',
        lockTimeout: 5000,
        statementTimeout: 0,
        connectTimeout: 10_000,
        parallel: 4,
        maxConnections: 16,
        verifyWindow: 7 * 86_400_000,
      },
      nodes: {
        east: {
          name: 'east',
          connection: {
            host: 'east.internal',
            port: 5432,
            database: 'app',
            user: 'steep',
            password: 'east-secret',
          },
          // what replicationUrl leaves out comes from the node; the password only for the same user
          replicationConnection: { host: '10.0.0.1', port: 5432, database: 'app', user: 'repl' },
          replicationPassfile: '/etc/steep/east.pgpass',
          priority: 100,
          sandbox: false,
        },
        west: {
          name: 'west',
          connection: {
            host: 'west.internal',
            port: 5433,
            database: 'app',
            user: 'steep',
            sslmode: 'require',
          },
          priority: 100,
          sandbox: true,
        },
      },
      publications: {
        orders_pub: {
          name: 'orders_pub',
          node: 'east',
          allTables: false,
          tables: [
            {
              schema: 'public',
              name: 'customers',
              columns: ['id', 'name', 'region'],
              where: "region = 'eu'",
            },
            { schema: 'public', name: 'orders', columns: null, where: null },
          ],
          schemas: [],
          publish: ['insert', 'update', 'delete', 'truncate'],
          viaPartitionRoot: false,
          generatedColumns: 'none',
          protect: false,
        },
      },
      subscriptions: {
        west_orders: {
          name: 'west_orders',
          node: 'west',
          from: 'east',
          publications: ['orders_pub'],
          slot: 'west_orders',
          slotDeclared: true,
          enabled: true,
          options: {
            binary: false,
            streaming: 'parallel',
            synchronousCommit: 'off',
            twoPhase: false,
            disableOnError: false,
            origin: 'any',
            failover: false,
            passwordRequired: true,
            runAsOwner: false,
          },
          schemaSync: 'auto',
          // strategy applies to merge only: ignored here, with a warning
          init: { method: 'snapshot', parallel: 4, parallelDeclared: true, existingData: 'fail' },
          protect: false,
          verifyWindow: 7 * 86_400_000,
        },
      },
      positions: {
        'node.east': pos(12, 3),
        'node.west': pos(20, 3),
        'publication.orders_pub': pos(25, 3),
        'subscription.west_orders': pos(38, 3),
      },
      source: {
        path: 'steep.yaml',
        digest: `sha256:${createHash('sha256').update(specExample).digest('hex')}`,
      },
    };
    expect(topology).toEqual(expected);
    expect(warnings.map((w) => `${at(w)} ${w.code}`)).toEqual(['49:7 strategy-ignored']);
  });
});

describe('defaults', () => {
  const minimal = 'version: 1\ntopology: t\nnodes:\n  a: {}\n';

  it('a minimal file: settings, node connection from the libpq defaults', () => {
    const { topology } = check(minimal);
    expect(topology?.settings).toEqual({
      schemaSync: 'strict',
      stateSchema: 'steep',
      lockTimeout: 5000,
      statementTimeout: 0,
      connectTimeout: 10_000,
      parallel: 4,
      maxConnections: 16,
      verifyWindow: 7 * 86_400_000,
    });
    expect(topology?.nodes.a).toEqual({
      name: 'a',
      connection: { host: 'localhost', port: 5432, database: 'postgres', user: 'postgres' },
      priority: 100,
      sandbox: false,
    });
    expect(topology?.publications).toEqual({});
    expect(topology?.subscriptions).toEqual({});
  });

  it('user and database default to PGUSER and PGDATABASE', () => {
    const { topology } = check(minimal, { PGUSER: 'dba', PGDATABASE: 'shop' });
    expect(topology?.nodes.a?.connection).toMatchObject({ user: 'dba', database: 'shop' });
  });

  it('empty publications/subscriptions/settings sections mean none', () => {
    const { topology, errors } = check(`${minimal}settings:\npublications:\nsubscriptions:\n`);
    expect(errors).toEqual([]);
    expect(topology?.publications).toEqual({});
  });

  it('a subscription takes the slot, init and schemaSync defaults; options only as set', () => {
    const text = BASE.replace(
      'topology: orders-eu',
      'topology: orders-eu\nsettings: {schemaSync: manual, parallel: 8}',
    );
    const subscription = check(text).topology?.subscriptions.west_orders;
    expect(subscription).toEqual({
      name: 'west_orders',
      node: 'west',
      from: 'east',
      publications: ['orders_pub'],
      slot: 'west_orders',
      enabled: true,
      options: {},
      schemaSync: 'manual',
      init: { method: 'snapshot', parallel: 8, existingData: 'fail' },
      protect: false,
      verifyWindow: 7 * 86_400_000,
    });
  });

  it('verify.window: 7d by default; settings give every subscription theirs, one may set its own or off', () => {
    expect(check(BASE).topology?.subscriptions.west_orders?.verifyWindow).toBe(7 * 86_400_000);
    const withDefault = BASE.replace(
      'topology: orders-eu',
      'topology: orders-eu\nsettings: {verify: {window: 7d}}',
    );
    expect(check(withDefault).topology?.settings.verifyWindow).toBe(7 * 86_400_000);
    expect(check(withDefault).topology?.subscriptions.west_orders?.verifyWindow).toBe(7 * 86_400_000);
    const own = withDefault.replace('    from: east\n', '    from: east\n    verify: {window: 2s}\n');
    expect(own).not.toBe(withDefault);
    expect(check(own).topology?.subscriptions.west_orders?.verifyWindow).toBe(2000);
    const off = withDefault.replace('    from: east\n', '    from: east\n    verify: {window: off}\n');
    expect(check(off).topology?.subscriptions.west_orders?.verifyWindow).toBe('off');
  });
});

describe('normalisation', () => {
  it('connection fields instead of url, port as a string from env:…', () => {
    const text = `version: 1
topology: t
nodes:
  a:
    host: /var/run/postgresql
    port: ${envRef('PORT')}
    database: app
    user: steep
    sslmode: verify-full
    sslrootcert: /etc/ca.pem
    sslcert: /etc/steep.crt
    sslkey: /etc/steep.key
    sslcrl: /etc/root.crl
    priority: 5
    serverVersion: "18.4"
`;
    expect(check(text, { PORT: '6543' }).topology?.nodes.a).toEqual({
      name: 'a',
      connection: {
        host: '/var/run/postgresql',
        port: 6543,
        database: 'app',
        user: 'steep',
        sslmode: 'verify-full',
        sslrootcert: '/etc/ca.pem',
        sslcert: '/etc/steep.crt',
        sslkey: '/etc/steep.key',
        sslcrl: '/etc/root.crl',
      },
      priority: 5,
      sandbox: false,
      serverVersion: 180004,
    });
  });

  it("standbys: a URL or a mapping; what each leaves out is the node's (its password for the same user); a literal one warns", () => {
    const text = `version: 1
topology: t
nodes:
  a:
    url: postgres://steep@primary.internal:5432/app?sslmode=require
    password: ${envRef('A_PW')}
    standbys:
      - postgres://steep@standby1.internal/app
      - {host: standby2.internal, port: 5433, user: other}
      - {port: 5434, password: plain-secret}
`;
    const { topology, warnings } = check(text, { A_PW: 'a-secret' });
    expect(topology?.nodes.a?.standbys).toEqual([
      {
        host: 'standby1.internal',
        port: 5432,
        database: 'app',
        user: 'steep',
        password: 'a-secret',
        sslmode: 'require',
      },
      { host: 'standby2.internal', port: 5433, database: 'app', user: 'other', sslmode: 'require' },
      {
        host: 'primary.internal',
        port: 5434,
        database: 'app',
        user: 'steep',
        password: 'plain-secret',
        sslmode: 'require',
      },
    ]);
    expect(warnings.map((w) => w.message)).toContain(
      'node `a`: the password of standby 3 is written in the file',
    );
    expect(JSON.stringify(warnings)).not.toContain('plain-secret');
  });

  it('libpq URLs: percent-decoding, IPv6, query parameters', () => {
    const text = `version: 1
topology: t
nodes:
  a: {url: "postgresql://us%40er@[::1]:5433/my%20db?sslmode=verify-ca&sslrootcert=%2Fca.pem&sslcert=%2Fc.crt&sslkey=%2Fc.key&sslcrl=%2Fr.crl"}
  b: {url: "postgres:///app?host=%2Ftmp&port=5444&user=x"}
`;
    const { topology } = check(text);
    expect(topology?.nodes.a?.connection).toEqual({
      host: '::1',
      port: 5433,
      database: 'my db',
      user: 'us@er',
      sslmode: 'verify-ca',
      sslrootcert: '/ca.pem',
      sslcert: '/c.crt',
      sslkey: '/c.key',
      sslcrl: '/r.crl',
    });
    expect(topology?.nodes.b?.connection).toEqual({ host: '/tmp', port: 5444, database: 'app', user: 'x' });
  });

  it('tables sorted by schema then name, bare names in public, columns sorted, quoted parts', () => {
    const text = BASE.replace(
      'tables: [public.orders]',
      `tables:
      - sales.b
      - orders
      - name: sales.a
        columns: [z, a, m]
      - '"my.schema"."odd""name"'`,
    );
    const { topology, errors } = check(text);
    expect(errors).toEqual([]);
    expect(topology?.publications.orders_pub?.tables).toEqual([
      { schema: 'my.schema', name: 'odd"name', columns: null, where: null },
      { schema: 'public', name: 'orders', columns: null, where: null },
      { schema: 'sales', name: 'a', columns: ['a', 'm', 'z'], where: null },
      { schema: 'sales', name: 'b', columns: null, where: null },
    ]);
  });

  it('publish in canonical order, schemas sorted, allTables leaves lists empty', () => {
    const text = `version: 1
topology: t
nodes: {a: {}}
publications:
  p: {node: a, schemas: [sales, hr], publish: [truncate, insert]}
  q: {node: a, allTables: true, viaPartitionRoot: true, protect: true, generatedColumns: stored}
`;
    const { topology } = check(text);
    expect(topology?.publications.p).toMatchObject({
      schemas: ['hr', 'sales'],
      publish: ['insert', 'truncate'],
    });
    expect(topology?.publications.q).toMatchObject({
      allTables: true,
      tables: [],
      schemas: [],
      viaPartitionRoot: true,
      protect: true,
      generatedColumns: 'stored',
    });
  });

  it('durations: 500ms, 2min, 1h, plain milliseconds', () => {
    const settings = (lock: string, statement: string) =>
      check(
        `version: 1\ntopology: t\nsettings: {lockTimeout: ${lock}, statementTimeout: ${statement}}\nnodes: {a: {}}\n`,
      ).topology?.settings;
    expect(settings('500ms', '2min')).toMatchObject({ lockTimeout: 500, statementTimeout: 120_000 });
    expect(settings('1h', '250')).toMatchObject({ lockTimeout: 3_600_000, statementTimeout: 250 });
    expect(settings('"1.5s"', '0')).toMatchObject({ lockTimeout: 1500, statementTimeout: 0 });
  });

  it('streaming and synchronousCommit accept true/false as on/off', () => {
    const text = BASE.replace(
      '    publications: [orders_pub]',
      '    publications: [orders_pub]\n    options: {streaming: true, synchronousCommit: false}',
    );
    expect(check(text).topology?.subscriptions.west_orders?.options).toEqual({
      streaming: 'on',
      synchronousCommit: 'off',
    });
  });

  it('merge keys and x- extension keys let objects share settings', () => {
    const text = `version: 1
topology: t
x-subscription: &sub
  from: east
  options: {origin: none}
nodes: {east: {}, west: {}, north: {}}
publications:
  p: {node: east, tables: [t]}
subscriptions:
  west_p:
    <<: *sub
    node: west
    publications: [p]
  north_p:
    <<: *sub
    node: north
    publications: [p]
`;
    const { topology, errors } = check(text);
    expect(errors).toEqual([]);
    expect(topology?.subscriptions.north_p).toMatchObject({ from: 'east', options: { origin: 'none' } });
  });

  it('the digest is of the raw bytes', () => {
    const bytes = Buffer.from(BASE, 'utf8');
    const { topology } = parseTopology(bytes, 'steep.yaml', {});
    expect(topology.source.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });
});
