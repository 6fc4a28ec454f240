import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState } from '../../../src/model/cluster.js';
import { toPlanFile } from '../../../src/model/planFile.js';
import type { Topology } from '../../../src/model/topology.js';
import { at, codes, observe, observedTable, PG15, runPlan } from './fixtures.js';

const FILE = `version: 1
topology: orders-eu
nodes:
  eu: { url: "postgres://steep@eu.internal:5432/app" }
  us: { url: "postgres://steep@us.internal:5432/app" }
links:
  eu_us:
    nodes: [eu, us]
    tables: [public.accounts, public.orders]
    init: { method: merge, strategy: "last-modified:updated_at" }
`;

function load(text = FILE): Topology {
  return parseTopology(text, 'steep.yaml', {}).topology;
}

/** Both nodes hold the tables (with rows), nothing of the link exists yet. */
function fresh(t: Topology, opts: Parameters<typeof observe>[1] = {}): ClusterState {
  const s = observe(t, opts);
  for (const n of Object.keys(t.nodes)) {
    const node = at(s, n);
    node.publications = {};
    node.subscriptions = {};
    node.slots = {};
    for (const qn of ['public.accounts', 'public.orders'])
      node.tables[qn] = observedTable(qn, { hasRows: true, sizeBytes: 8192 });
  }
  return s;
}

describe('links in the plan', () => {
  it('a merge link: a publication on each node from the link, then one merge step that creates both subscriptions under write locks', () => {
    const t = load();
    const p = runPlan(t, fresh(t));
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => `${printAddress(s.address)} ${s.node} ${s.kind}`)).toEqual([
      'publication.eu_us_eu eu publication-create',
      'publication.eu_us_us us publication-create',
      'link.eu_us eu merge-init',
    ]);
    expect(p.steps[0]!.reasonText).toBe('declared by link eu_us in steep.yaml, absent on eu');
    const merge = p.steps[2]!;
    expect(merge.action).toBe('init');
    expect(merge.hazards).toEqual(['blocks-writes', 'copies-data']);
    expect(merge.dependsOn).toEqual(expect.arrayContaining([p.steps[0]!.id, p.steps[1]!.id]));
    expect(merge.reasonText).toContain('resolves conflicting rows by last-modified:updated_at');
    expect(merge.reasonText).toContain(
      'while it gets the locks (at most lock_timeout), re-checks (about 1 s by their size, more under load)',
    );
    expect(merge.reasonText).toContain('apply shows how long writes waited');
    expect(merge.changes).toEqual(
      expect.arrayContaining([
        { path: 'init.nodes', before: null, after: ['eu', 'us'] },
        { path: 'init.subscriptions', before: null, after: ['eu_us_eu', 'eu_us_us'] },
        { path: 'init.tables', before: null, after: ['public.accounts', 'public.orders'] },
      ]),
    );
    const sql = merge.statements.map((s) => `${s.node}: ${s.sql}`);
    // each slot made before the locks, outside a transaction, then each node's origin set up
    // (outside a transaction too); each node's position read under the locks
    expect(sql.filter((x) => !x.includes('pg_replication_origin')).slice(0, 6)).toEqual([
      "us: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_eu_a172cedc', 'pgoutput') WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = 'eu_us_eu_a172cedc' AND plugin = 'pgoutput' AND database = current_database())",
      "eu: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_us_a172cedc', 'pgoutput') WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = 'eu_us_us_a172cedc' AND plugin = 'pgoutput' AND database = current_database())",
      'eu: LOCK TABLE "public"."accounts", "public"."orders" IN EXCLUSIVE MODE',
      'us: LOCK TABLE "public"."accounts", "public"."orders" IN EXCLUSIVE MODE',
      'eu: SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn',
      'us: SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn',
    ]);
    expect(merge.statements.slice(0, 6).map((s) => s.transactional)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(sql.slice(2, 6).every((x) => x.includes('pg_replication_origin'))).toBe(true);
    // the writes under the locks carry a steep origin on each node, dropped after the commit
    expect(sql.filter((x) => x.includes('pg_replication_origin'))).toEqual([
      "eu: SELECT pg_catalog.pg_replication_origin_create('steep_merge_eu_us_eu_a172cedc') WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_origin WHERE roname = 'steep_merge_eu_us_eu_a172cedc')",
      "eu: SELECT pg_catalog.pg_replication_origin_session_setup('steep_merge_eu_us_eu_a172cedc')",
      "us: SELECT pg_catalog.pg_replication_origin_create('steep_merge_eu_us_us_a172cedc') WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_origin WHERE roname = 'steep_merge_eu_us_us_a172cedc')",
      "us: SELECT pg_catalog.pg_replication_origin_session_setup('steep_merge_eu_us_us_a172cedc')",
      'eu: SELECT pg_catalog.pg_replication_origin_session_reset()',
      "eu: SELECT pg_catalog.pg_replication_origin_drop('steep_merge_eu_us_eu_a172cedc')",
      'us: SELECT pg_catalog.pg_replication_origin_session_reset()',
      "us: SELECT pg_catalog.pg_replication_origin_drop('steep_merge_eu_us_us_a172cedc')",
    ]);
    expect(merge.reasonText).toContain('merges what was written meanwhile inside the locked transactions');
    const creates = merge.statements.filter((s) => s.sql.startsWith('CREATE SUBSCRIPTION'));
    expect(creates.map((s) => s.node)).toEqual(['eu', 'us']);
    for (const c of creates) {
      expect(c.sql).toContain('enabled = false, copy_data = false, create_slot = false');
      expect(c.sql).toContain("origin = 'none'");
    }
    expect(creates[1]!.sql).toContain('PUBLICATION "eu_us_eu"');
    // the JSON plan says where each statement runs, and is a valid plan document
    const file = toPlanFile(p);
    expect(file.steps[2]!.statementNodes?.slice(0, 8)).toEqual([
      'us',
      'eu',
      'eu',
      'eu',
      'us',
      'us',
      'eu',
      'us',
    ]);
    const ajv = new Ajv({ allErrors: true, strict: false });
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    const validate = ajv.compile(
      JSON.parse(readFileSync(new URL('../../../schemas/plan.schema.json', import.meta.url), 'utf8')),
    );
    expect(validate(file), JSON.stringify(validate.errors)).toBe(true);
  });

  it('once applied the plan is empty, and the two-way pair is no loop', () => {
    const t = load();
    const p = runPlan(t, observe(t));
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it('a third node closing a ring with origin any is still a loop', () => {
    const t = load(
      FILE.replace('links:', '  ap: { url: "postgres://steep@ap.internal:5432/app" }\nlinks:') +
        `publications:
  us_pub: { node: us, tables: [public.orders] }
  ap_pub: { node: ap, tables: [public.orders] }
subscriptions:
  ap_from_us: { node: ap, from: us, publications: [us_pub], options: { origin: any } }
  eu_from_ap: { node: eu, from: ap, publications: [ap_pub], options: { origin: any } }
`,
    );
    const p = runPlan(t, observe(t));
    expect(codes(p.errors)).toContain('cycle');
    expect(p.errors.find((e) => e.code === 'cycle')!.message).toContain('loop ap → eu → us → ap');
  });

  it('a node older than 16 in a link: one error naming the node and the version', () => {
    const t = load();
    const p = runPlan(t, fresh(t, { versions: { us: PG15 } }));
    expect(p.errors.filter((e) => e.code === 'link-version')).toEqual([
      {
        code: 'link-version',
        message:
          'link eu_us: node us runs PostgreSQL 15.8; a link replicates both ways with origin = none, which needs PostgreSQL 16 or later on both nodes: upgrade us, or replicate one way with a subscription instead',
        address: 'link.eu_us',
        node: 'us',
      },
    ]);
    expect(
      p.steps.filter((s) => printAddress(s.address).startsWith('subscription.') || s.kind === 'merge-init'),
    ).toEqual([]);
  });

  it('a snapshot link copies on the first edge and creates the reverse edge with copy_data = false', () => {
    const t = load(
      FILE.replace('{ method: merge, strategy: "last-modified:updated_at" }', '{ method: snapshot }'),
    );
    const s = fresh(t);
    at(s, 'us').tables['public.accounts']!.hasRows = false;
    at(s, 'us').tables['public.orders']!.hasRows = false;
    at(s, 'eu').tables['public.accounts']!.hasRows = false;
    at(s, 'eu').tables['public.orders']!.hasRows = false;
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    const create = (name: string) =>
      p.steps.find(
        (x) => printAddress(x.address) === `subscription.${name}` && x.kind === 'subscription-create',
      )!.statements[0]!.sql;
    expect(create('eu_us_us')).toContain('copy_data = true');
    expect(create('eu_us_eu')).toContain('copy_data = false');
    // the way back's slot (on us) is made first, then us's tables are read; the copy waits for it
    const wayBack = p.steps.find((x) => printAddress(x.address) === 'slot.us/eu_us_eu_a172cedc')!;
    expect(wayBack.statements.map((x) => x.sql.split(' ').slice(0, 3).join(' '))).toEqual([
      "SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_eu_a172cedc', 'pgoutput')",
      'DO $steep$ DECLARE',
    ]);
    expect(wayBack.statements[1]!.sql).toContain(
      "pg_catalog.pg_drop_replication_slot('eu_us_eu_a172cedc'); RAISE EXCEPTION",
    );
    const copy = p.steps.find((x) => printAddress(x.address) === 'subscription.eu_us_us')!;
    expect(copy.dependsOn).toContain(wayBack.id);
    // the other edge's slot is not read: eu's rows are the copy's source
    const forward = p.steps.find((x) => printAddress(x.address) === 'slot.eu/eu_us_us_a172cedc')!;
    expect(forward.statements).toHaveLength(1);

    // stopped after the first edge was created: the way back's slot, made and read before it, is taken over
    const done = observe(t);
    for (const n of ['eu', 'us']) at(s, n).publications = at(done, n).publications;
    at(s, 'us').subscriptions.eu_us_us = at(done, 'us').subscriptions.eu_us_us!;
    at(s, 'eu').slots.eu_us_us_a172cedc = at(done, 'eu').slots.eu_us_us_a172cedc!;
    at(s, 'us').slots.eu_us_eu_a172cedc = {
      ...at(done, 'us').slots.eu_us_eu_a172cedc!,
      active: false,
      activePid: null,
    };
    const resumed = runPlan(t, s);
    expect(resumed.errors).toEqual([]);
    expect(resumed.steps.map((x) => `${printAddress(x.address)} ${x.kind}`)).toEqual([
      'subscription.eu_us_eu subscription-create',
    ]);
    expect(resumed.steps[0]!.statements[0]!.sql).toContain("slot_name = 'eu_us_eu_a172cedc'");
    expect(resumed.steps[0]!.statements[0]!.sql).toContain('create_slot = false');
  });
});

describe('an interrupted merge', () => {
  it('a subscription a killed merge created before recording it synchronized is dropped and made again inside the merge step', () => {
    const t = load();
    const s = fresh(t);
    // killed between the two creates: eu_us_eu exists on eu, recorded copying; eu_us_us does not
    const done = observe(t);
    at(s, 'eu').subscriptions.eu_us_eu = at(done, 'eu').subscriptions.eu_us_eu!;
    at(s, 'us').slots.eu_us_eu_a172cedc = at(done, 'us').slots.eu_us_eu_a172cedc!;
    at(s, 'eu').initState = {
      subscriptions: {
        eu_us_eu: {
          subscription: 'eu_us_eu',
          initMethod: 'merge',
          state: 'copying',
          sourceNode: 'us',
          startedAt: null,
          completedAt: null,
          updatedAt: '2026-01-01T00:00:00.000Z',
          error: null,
        },
      },
      slots: {},
    };
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    const merge = p.steps.find((x) => x.kind === 'merge-init')!;
    expect(merge.hazards).toEqual(['blocks-writes', 'copies-data', 'drops-slot']);
    expect(merge.statements.map((x) => `${x.node}: ${x.sql.split(' ').slice(0, 3).join(' ')}`)).toEqual([
      'eu: DROP SUBSCRIPTION "eu_us_eu"',
      "us: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_eu_a172cedc', 'pgoutput')",
      "eu: SELECT pg_catalog.pg_create_logical_replication_slot('eu_us_us_a172cedc', 'pgoutput')",
      "eu: SELECT pg_catalog.pg_replication_origin_create('steep_merge_eu_us_eu_a172cedc') WHERE",
      "eu: SELECT pg_catalog.pg_replication_origin_session_setup('steep_merge_eu_us_eu_a172cedc')",
      "us: SELECT pg_catalog.pg_replication_origin_create('steep_merge_eu_us_us_a172cedc') WHERE",
      "us: SELECT pg_catalog.pg_replication_origin_session_setup('steep_merge_eu_us_us_a172cedc')",
      'eu: LOCK TABLE "public"."accounts",',
      'us: LOCK TABLE "public"."accounts",',
      'eu: SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS',
      'us: SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS',
      'eu: CREATE SUBSCRIPTION "eu_us_eu"',
      'eu: COMMENT ON SUBSCRIPTION',
      'us: CREATE SUBSCRIPTION "eu_us_us"',
      'us: COMMENT ON SUBSCRIPTION',
      'eu: SELECT pg_catalog.pg_replication_origin_session_reset()',
      "eu: SELECT pg_catalog.pg_replication_origin_drop('steep_merge_eu_us_eu_a172cedc')",
      'us: SELECT pg_catalog.pg_replication_origin_session_reset()',
      "us: SELECT pg_catalog.pg_replication_origin_drop('steep_merge_eu_us_us_a172cedc')",
    ]);
    expect(p.steps.filter((x) => printAddress(x.address) === 'subscription.eu_us_eu')).toEqual([]);
  });

  it('a slot a killed merge made before its locks is taken over by the merge step, not dropped by a step of its own', () => {
    const t = load();
    const s = fresh(t);
    at(s, 'us').slots.eu_us_eu_a172cedc = {
      ...at(observe(t), 'us').slots.eu_us_eu_a172cedc!,
      active: false,
      activePid: null,
    };
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.steps.map((x) => x.kind)).toEqual(['publication-create', 'publication-create', 'merge-init']);
    const slot = p.steps[2]!.statements.find((x) => x.sql.includes("slot('eu_us_eu_a172cedc'"))!;
    expect(slot.node).toBe('us');
    expect(slot.sql).toContain(
      "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = 'eu_us_eu_a172cedc'",
    );
  });
});

describe('link slots and their database tag', () => {
  /** The link as it is once applied, with its subscriptions on `slots` (by subscription). */
  function applied(slots: Record<string, string>): { t: Topology; s: ClusterState } {
    const t = load();
    const s = observe(t);
    for (const [name, slot] of Object.entries(slots)) {
      const d = t.subscriptions[name]!;
      const sub = at(s, d.node).subscriptions[name]!;
      const pub = at(s, d.from);
      pub.slots[slot] = { ...pub.slots[d.slot]!, name: slot };
      delete pub.slots[d.slot];
      sub.slot = slot;
    }
    return { t, s };
  }

  it('a link made before its slots carried the tag keeps its slots: no change is planned', () => {
    const { t, s } = applied({ eu_us_eu: 'eu_us_eu', eu_us_us: 'eu_us_us' });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
  });

  it('any other slot is a change: the link makes the subscription again on its tagged slot', () => {
    const { t, s } = applied({ eu_us_eu: 'eu_us_eu_other' });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    const sql = p.steps.flatMap((x) => x.statements.map((st) => st.sql)).join('\n');
    expect(sql).toContain('DROP SUBSCRIPTION "eu_us_eu"');
    expect(sql).toContain("slot_name = 'eu_us_eu_a172cedc'");
    // a link takes no `slot:`, so no advice says to declare one
    expect(p.warnings.map((w) => w.message).join('\n')).not.toContain('slot:');
  });
});
