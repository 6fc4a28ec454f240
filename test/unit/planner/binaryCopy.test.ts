import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/model/cluster.js';
import { binaryRequests } from '../../../src/planner/subscriptions/binaryCopy.js';
import {
  at,
  codes,
  observe,
  observedTable,
  PG15,
  PG16,
  publication,
  runPlan,
  stepAt,
  subscription,
  table,
  topology,
} from './fixtures.js';

function base(binary = true) {
  return topology({
    publications: [publication('p', 'east', { tables: ['public.orders', 'public.grants'] })],
    subscriptions: [subscription('s', 'west', 'east', ['p'], { options: { binary } })],
  });
}

/**
 * `s` not created yet; public.grants.acl is aclitem: no send on east, no receive on west (its own
 * type: pgoutput streams it as text)
 */
function fresh(t = base(), versions?: Record<string, number>): ClusterState {
  const s = observe(t, versions ? { versions } : {});
  at(s, 'west').subscriptions = {};
  at(s, 'east').slots = {};
  for (const n of ['east', 'west']) {
    at(s, n).tables['public.orders'] = observedTable('public.orders', { binaryless: [] });
    at(s, n).tables['public.grants'] = observedTable('public.grants', {
      binaryless: [
        {
          column: 'acl',
          type: 'aclitem',
          noSend: n === 'east' ? 'aclitem' : null,
          noReceive: n === 'west' ? 'aclitem' : null,
          ownSend: false,
        },
      ],
    });
  }
  return s;
}

/** what a column read from the catalog holds besides its name, type and position */
const ONE_COLUMN = {
  default: null,
  notNull: false,
  identity: null,
  generated: null,
  collation: null,
  baseType: null,
  sequences: [],
};

describe('binary table sync (options.binary, 16+)', () => {
  it('a create copying a column without send/receive functions → error naming table, column, type and the way out', () => {
    const p = runPlan(base(), fresh());
    expect(codes(p.errors)).toEqual(['binary-copy']);
    expect(p.errors[0]).toMatchObject({
      address: 'subscription.s',
      node: 'west',
      message:
        'subscription s on west would copy public.grants from east in binary format (options.binary: true, PostgreSQL 16 or later on both sides), ' +
        'but column acl is aclitem, which has no binary send function on east and no binary receive function on west: ' +
        "PostgreSQL's table sync would fail on it again and again; set options.binary: false",
    });
    expect(p.steps.filter((x) => x.kind === 'subscription-create')).toEqual([]);
  });

  it('binary off, or either side before 16 (a text copy): no error', () => {
    expect(runPlan(base(false), fresh(base(false))).errors).toEqual([]);
    expect(runPlan(base(), fresh(base(), { east: PG15, west: PG16 })).errors).toEqual([]);
    expect(runPlan(base(), fresh(base(), { east: PG16, west: PG15 })).errors).toEqual([]);
  });

  it("a type of the database's own made of another (an array): the way out names the type to give functions to", () => {
    const s = fresh();
    at(s, 'east').tables['public.grants']!.binaryless = [
      { column: 'tags', type: 'app.tag[]', noSend: 'app.tag', noReceive: null, ownSend: true },
    ];
    at(s, 'west').tables['public.grants']!.binaryless = [];
    const p = runPlan(base(), s);
    expect(p.errors[0]!.message).toContain(
      'but column tags is app.tag[], made of app.tag, which has no binary send function on east: ' +
        "PostgreSQL's table sync would fail on it again and again; set options.binary: false, or give app.tag " +
        'binary send and receive functions on both nodes (ALTER TYPE … SET (send = …, receive = …))',
    );
  });

  it('a column list without the column: no error', () => {
    const t = base();
    t.publications.p!.tables = [table('public.orders'), table({ table: 'public.grants', columns: ['id'] })];
    expect(runPlan(t, fresh(t)).errors).toEqual([]);
  });

  it('a refresh copying a table that joins → error; one that copies nothing, or a table it already receives → none', () => {
    const t = base();
    const s = fresh(t);
    const made = observe(t);
    at(s, 'west').subscriptions = at(made, 'west').subscriptions;
    at(s, 'east').slots = at(made, 'east').slots;
    at(s, 'west').subscriptions.s!.tables = at(s, 'west').subscriptions.s!.tables.filter(
      (x) => x.name !== 'grants',
    );
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['binary-copy']);
    expect(p.errors[0]!.message).toContain(
      'subscription s on west would copy public.grants from east in binary format',
    );
    // received already: streamed, never copied again
    const both = fresh(t);
    at(both, 'west').subscriptions = at(observe(t), 'west').subscriptions;
    at(both, 'east').slots = at(observe(t), 'east').slots;
    expect(runPlan(t, both).errors).toEqual([]);
  });

  it('asks for the columns of the tables a binary subscription would start carrying, on both sides, on every version', () => {
    const t = base();
    const s = fresh(t);
    expect(binaryRequests(t, s)).toEqual(
      new Map([
        [
          'east',
          [
            { schema: 'public', name: 'grants' },
            { schema: 'public', name: 'orders' },
          ],
        ],
        [
          'west',
          [
            { schema: 'public', name: 'grants' },
            { schema: 'public', name: 'orders' },
          ],
        ],
      ]),
    );
    expect(binaryRequests(base(false), s)).toEqual(new Map());
    // before 16 the copy is text, the stream binary
    expect(binaryRequests(t, fresh(t, { east: PG15, west: PG16 }))).toEqual(binaryRequests(t, s));
    // created, binary and receiving both: nothing starts in binary, nothing to read
    expect(binaryRequests(t, observe(t))).toEqual(new Map());
    // created in text and made binary now: every table streams in binary from then on
    const text = observe(t);
    at(text, 'west').subscriptions.s!.options.binary = false;
    expect(binaryRequests(t, text)).toEqual(binaryRequests(t, s));
  });

  it('a binary refresh of a table with send/receive functions plans the refresh and its copy', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.s!.tables = at(s, 'west').subscriptions.s!.tables.filter(
      (x) => x.name !== 'grants',
    );
    for (const n of ['east', 'west'])
      at(s, n).tables['public.grants'] = observedTable('public.grants', { binaryless: [] });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(stepAt(p, 'subscription.s').statements.map((x) => x.sql)).toContain(
      'ALTER SUBSCRIPTION "s" REFRESH PUBLICATION WITH (copy_data = true)',
    );
  });

  it('schemaSync manual: a copied column of another type on each side (bigint, integer) → error; strict refuses it already, text converts it', () => {
    const withTypes = (mode: 'manual' | 'strict', binary = true, versions?: Record<string, number>) => {
      const t = base(binary);
      t.subscriptions.s!.schemaSync = mode;
      const s = fresh(t, versions);
      for (const n of ['east', 'west']) {
        at(s, n).tables['public.grants']!.binaryless = [];
        const columns = [
          { name: 'id', type: n === 'east' ? 'bigint' : 'integer' },
          { name: 'note', type: n === 'east' ? 'character varying(10)' : 'character varying(20)' },
        ].map((c, i) => ({ ...ONE_COLUMN, ...c, ordinal: i + 1 }));
        at(s, n).tableSchemas = {
          scope: { all: false, schemas: [], tables: [{ schema: 'public', name: 'grants' }] },
          tables: {
            'public.grants': {
              schema: 'public',
              name: 'grants',
              kind: 'r',
              partition: false,
              replicaIdentity: 'd',
              columns,
              primaryKey: ['id'],
              fingerprint: n,
            },
          },
          types: {},
          sequences: {},
          schemas: ['public'],
          extensions: [],
        };
      }
      return runPlan(t, s);
    };
    const manual = withTypes('manual');
    expect(codes(manual.errors)).toContain('binary-copy');
    expect(manual.errors.find((e) => e.code === 'binary-copy')!.message).toContain(
      'but column id is bigint on east and integer on west, which a binary copy does not convert: ' +
        "PostgreSQL's table sync would fail on it again and again; set options.binary: false, or give the column one type on both nodes",
    );
    // a typmod is no other binary format
    expect(manual.errors.find((e) => e.code === 'binary-copy')!.message).not.toContain('column note');
    expect(codes(withTypes('manual', false).errors)).not.toContain('binary-copy');
    expect(codes(withTypes('strict').errors)).not.toContain('binary-copy');
    // before 16 the copy is text and converts; the stream is binary and does not
    const older = withTypes('manual', true, { east: PG15, west: PG15 });
    expect(codes(older.errors)).toContain('binary-stream');
    expect(older.errors.find((e) => e.code === 'binary-stream')!.message).toContain(
      'but column id is bigint on east and integer on west, which a binary stream does not convert: ' +
        "PostgreSQL's apply worker would fail on the first change to it, again and again",
    );
  });
});

describe('binary streaming (options.binary, every version)', () => {
  /** public.grants.acls is aclitem[]: array_send on east, whose element aclitem has none */
  function arrays(s: ClusterState): ClusterState {
    at(s, 'east').tables['public.grants']!.binaryless = [
      { column: 'acls', type: 'aclitem[]', noSend: 'aclitem', noReceive: 'aclitem', ownSend: true },
    ];
    at(s, 'west').tables['public.grants']!.binaryless = [
      { column: 'acls', type: 'aclitem[]', noSend: 'aclitem', noReceive: 'aclitem', ownSend: true },
    ];
    return s;
  }
  const streamError =
    'subscription s on west would stream public.grants from east in binary format (options.binary: true), ' +
    'but column acls is aclitem[], made of aclitem, which has no binary send function on east and no binary receive function on west: ' +
    "PostgreSQL's apply worker would fail on the first change to it, again and again; set options.binary: false";

  it('a create before 16 (a text copy) streaming an array of a type without send → binary-stream, nothing created', () => {
    const p = runPlan(base(), arrays(fresh(base(), { east: PG15, west: PG15 })));
    expect(codes(p.errors)).toEqual(['binary-stream']);
    expect(p.errors[0]).toMatchObject({ address: 'subscription.s', node: 'west', message: streamError });
    expect(p.steps.filter((x) => x.kind === 'subscription-create')).toEqual([]);
  });

  it('from 16 the copy fails first: binary-copy, once', () => {
    const p = runPlan(base(), arrays(fresh()));
    expect(codes(p.errors)).toEqual(['binary-copy']);
  });

  it('a subscription made binary after its copy: refused for a table it streams already, not for aclitem itself', () => {
    const t = base();
    const made = (s: ClusterState) => {
      const o = observe(t);
      at(s, 'west').subscriptions = at(o, 'west').subscriptions;
      at(s, 'east').slots = at(o, 'east').slots;
      at(s, 'west').subscriptions.s!.options.binary = false;
      return s;
    };
    const p = runPlan(t, arrays(made(fresh(t))));
    expect(codes(p.errors)).toEqual(['binary-stream']);
    expect(p.errors[0]!.message).toBe(streamError);
    // aclitem itself is sent as text: made binary, it goes on
    const plain = runPlan(t, made(fresh(t)));
    expect(plain.errors).toEqual([]);
    expect(
      stepAt(plain, 'subscription.s')
        .statements.map((x) => x.sql)
        .join('\n'),
    ).toContain('binary');
  });

  it('a subscriber whose type has no receive function for what the publisher sends in binary → binary-stream', () => {
    const s = fresh(base(), { east: PG15, west: PG15 });
    at(s, 'east').tables['public.grants']!.binaryless = [];
    at(s, 'west').tables['public.grants']!.binaryless = [
      { column: 'tag', type: 'app.tag', noSend: 'app.tag', noReceive: 'app.tag', ownSend: false },
    ];
    const p = runPlan(base(), s);
    expect(codes(p.errors)).toEqual(['binary-stream']);
    expect(p.errors[0]!.message).toContain(
      'but column tag is app.tag, which has no binary receive function on west: ' +
        "PostgreSQL's apply worker would fail on the first change to it, again and again; set options.binary: false, " +
        'or give app.tag binary send and receive functions on both nodes',
    );
  });
});
