import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ClusterState } from '../../../src/model/cluster.js';
import { formatOwnership, parseOwnership } from '../../../src/model/ownership.js';
import type { Topology } from '../../../src/model/topology.js';
import { SUBSCRIPTION_KEYED_TABLES } from '../../../src/planner/stateSchema.js';
import { stateMigrations } from '../../../src/state/migrations.js';
import {
  at,
  conninfoFor,
  observe,
  observedSlot,
  publication,
  runPlan,
  subscription,
  topology,
  unreachable,
} from './fixtures.js';

/**
 * Renames in place (issue 35): a subscription renamed in the file is one ALTER … RENAME TO that
 * keeps its slot, origin and state, never a drop and a create; a publication only while nothing
 * reads it.
 */

const SUB = subscription('west_orders', 'west', 'east', ['orders_pub'], {
  init: { method: 'none', parallel: 4, existingData: 'fail' },
});
const PUB = publication('orders_pub', 'east');

/** The nodes as an apply of `old` left them. */
function appliedFrom(old: Topology): ClusterState {
  return observe(old);
}

function renamedTo(name: string, extra: Partial<typeof SUB> = {}): Topology {
  return topology({ publications: [PUB], subscriptions: [{ ...SUB, name, slot: name, ...extra }] });
}

const OLD = topology({ publications: [PUB], subscriptions: [SUB] });

/** The nodes after the plan's rename ran: the subscription under its new name, its slot and the marker the step set. */
function afterRename(state: ClusterState, t: Topology, from: string, to: string): ClusterState {
  const west = at(state, 'west');
  const o = west.subscriptions[from]!;
  delete west.subscriptions[from];
  const comment = formatOwnership({
    topology: t.topology,
    connHash: conninfoFor(t, 'east').hash,
    slot: o.slot,
  });
  west.subscriptions[to] = { ...o, name: to, comment, managedBy: parseOwnership(comment) };
  return state;
}

describe('renames: subscriptions', () => {
  it('a managed subscription renamed in the file (no renamedFrom) is one RENAME step that keeps its slot and moves its state', () => {
    const t = renamedTo('west_orders_v2');
    const p = runPlan(t, appliedFrom(OLD));
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => [printAddress(s.address), s.action, s.kind])).toEqual([
      ['subscription.west_orders_v2', 'update', 'subscription-alter'],
    ]);
    const step = p.steps[0]!;
    expect(step.changes[0]).toEqual({ path: 'name', before: 'west_orders', after: 'west_orders_v2' });
    expect(step.statements[0]!.sql).toBe('ALTER SUBSCRIPTION "west_orders" RENAME TO "west_orders_v2"');
    expect(step.statements.every((s) => s.transactional)).toBe(true);
    expect(step.statements.map((s) => s.sql)).toContain(
      `UPDATE "steep".subscription_state SET subscription = 'west_orders_v2' WHERE node_name = 'west' AND subscription = 'west_orders'`,
    );
    // the marker records the slot it kept
    expect(step.statements.at(-1)!.sql).toMatch(
      /^COMMENT ON SUBSCRIPTION "west_orders_v2" IS .* slot=west_orders'$/,
    );
    expect(step.reasonText).toMatch(
      /renamed to west_orders_v2 in place on west, keeping its slot west_orders/,
    );
    expect(step.hazards).toEqual([]);
    expect(p.orphanSlots).toEqual([]);
  });

  it('after the rename, the plan is empty with or without renamedFrom (the marker records the slot)', () => {
    const implicit = renamedTo('west_orders_v2');
    const after = afterRename(appliedFrom(OLD), implicit, 'west_orders', 'west_orders_v2');
    const p = runPlan(implicit, after);
    expect(p.steps).toEqual([]);
    expect(p.drift).toEqual([]);
    expect(p.orphanSlots).toEqual([]);
    const explicit = renamedTo('west_orders_v2', { renamedFrom: 'west_orders' });
    const q = runPlan(explicit, afterRename(appliedFrom(OLD), explicit, 'west_orders', 'west_orders_v2'));
    expect(q.steps).toEqual([]);
    expect(q.errors).toEqual([]);
  });

  it('a renamed subscription a switchover released (disabled, slot NONE), declared enabled: false, plans nothing: its marker keeps the slot (torture seed b-2)', () => {
    const t = renamedTo('west_orders_v2', { enabled: false });
    const released = afterRename(appliedFrom(OLD), t, 'west_orders', 'west_orders_v2');
    const o = at(released, 'west').subscriptions.west_orders_v2!;
    o.slotNone = true;
    o.enabled = false;
    delete at(released, 'east').slots.west_orders;
    const p = runPlan(t, released);
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
    // enabled again: a replace on a new slot of the default name, the marker without the old one
    t.subscriptions.west_orders_v2!.enabled = true;
    const step = runPlan(t, released).steps.find(
      (s) => printAddress(s.address) === 'subscription.west_orders_v2',
    )!;
    expect(step.action).toBe('replace');
    expect(step.statements.map((s) => s.sql).join('\n')).not.toContain('slot=west_orders');
  });

  it('renamedFrom renames, and other changes ride in the same step after the RENAME', () => {
    const t = renamedTo('west_v2', { renamedFrom: 'west_orders', options: { binary: true } });
    const p = runPlan(t, appliedFrom(OLD));
    expect(p.errors).toEqual([]);
    expect(p.steps).toHaveLength(1);
    const sql = p.steps[0]!.statements.map((s) => s.sql);
    expect(sql[0]).toBe('ALTER SUBSCRIPTION "west_orders" RENAME TO "west_v2"');
    expect(sql).toContain('ALTER SUBSCRIPTION "west_v2" SET (binary = true)');
    expect(p.steps[0]!.reasonText).toMatch(
      /\(renamedFrom\): renamed to west_v2 in place.*; .*options\.binary/,
    );
  });

  it('renamedFrom whose old and new names are both absent is a plan error; the new name alone is done', () => {
    const t = renamedTo('west_v2', { renamedFrom: 'west_gone' });
    const empty = appliedFrom(OLD);
    at(empty, 'west').subscriptions = {};
    const p = runPlan(t, empty);
    expect(p.errors.map((e) => e.message)).toEqual([
      'subscription west_v2: renamedFrom west_gone, but neither west_gone nor west_v2 exists on west; remove renamedFrom to create west_v2',
    ]);
    const done = observe(t);
    expect(runPlan(t, done).steps).toEqual([]);
  });

  it('renamedFrom of a subscription steep does not manage yet adopts it under its new name, RENAME first', () => {
    const s = appliedFrom(OLD);
    const o = at(s, 'west').subscriptions.west_orders!;
    at(s, 'west').subscriptions.west_orders = { ...o, comment: null, managedBy: null };
    const p = runPlan(renamedTo('west_v2', { renamedFrom: 'west_orders' }), s);
    expect(p.errors).toEqual([]);
    expect(p.steps.map((x) => [printAddress(x.address), x.action, x.statements[0]!.sql])).toEqual([
      ['subscription.west_v2', 'adopt', 'ALTER SUBSCRIPTION "west_orders" RENAME TO "west_v2"'],
    ]);
    expect(p.unmanaged).toEqual([]);
  });

  it('renamedFrom while both names exist is a plan error', () => {
    const both = topology({
      publications: [PUB],
      subscriptions: [SUB, { ...SUB, name: 'west_v2', slot: 'west_v2' }],
    });
    const p = runPlan(renamedTo('west_v2', { renamedFrom: 'west_orders' }), appliedFrom(both));
    expect(p.errors.map((e) => e.message)).toContain(
      'subscription west_v2: renamedFrom west_orders, but both west_orders and west_v2 exist on west; remove renamedFrom (west_orders is then planned like any subscription steep.yaml does not declare)',
    );
  });

  it('renamedFrom with a slot: other than the one the old subscription uses is a plan error naming it', () => {
    const t = renamedTo('west_v2', { renamedFrom: 'west_orders', slot: 'west_v2', slotDeclared: true });
    const p = runPlan(t, appliedFrom(OLD));
    expect(p.errors.map((e) => e.code)).toEqual(['rename.slot']);
    expect(p.errors[0]!.message).toMatch(/set slot: west_orders/);
  });

  it('two candidates: no implicit rename, and the drop and create carry a note naming renamedFrom', () => {
    const second = subscription('west_orders_b', 'west', 'east', ['orders_pub']);
    const old = topology({ publications: [PUB], subscriptions: [SUB, second] });
    const t = renamedTo('west_v2');
    const p = runPlan(t, appliedFrom(old));
    expect(p.steps.map((s) => [printAddress(s.address), s.action])).toEqual(
      expect.arrayContaining([
        ['subscription.west_v2', 'create'],
        ['subscription.west_orders', 'delete'],
        ['subscription.west_orders_b', 'delete'],
      ]),
    );
    expect(p.warnings.find((w) => w.code === 'rename.not-inferred')?.message).toMatch(
      /reads what west_orders and west_orders_b read .* add renamedFrom: <old name> to west_v2/,
    );
  });

  it('a subscription whose publications differ, or whose slot is gone, is not taken for a rename', () => {
    const other = topology({
      publications: [PUB, publication('other_pub', 'east', { tables: ['public.other'] })],
      subscriptions: [{ ...SUB, name: 'west_v2', slot: 'west_v2', publications: ['other_pub'] }],
    });
    const q = runPlan(other, appliedFrom(OLD));
    expect(q.steps.map((s) => s.action)).toEqual(expect.arrayContaining(['create', 'delete']));
    // a drop and a create from one publisher may still be a rename: the plan says how to keep it
    expect(q.warnings.find((w) => w.code === 'rename.not-inferred')?.message).toMatch(
      /^subscription west_v2 on west is created while west_orders, from the same publisher, is dropped, so steep plans a drop and a create; if it is a rename, add renamedFrom/,
    );
    const noSlot = appliedFrom(OLD);
    at(noSlot, 'east').slots = {};
    const p = runPlan(renamedTo('west_v2'), noSlot);
    expect(p.steps.map((s) => s.action)).toEqual(expect.arrayContaining(['create', 'delete']));
  });

  it('a subscription and its publication renamed together, keeping the rows: a data-gap plan error naming renamedFrom', () => {
    const both = topology({
      publications: [publication('orders_pub_v2', 'east')],
      subscriptions: [
        {
          ...SUB,
          name: 'west_v2',
          slot: 'west_v2',
          publications: ['orders_pub_v2'],
          init: { ...SUB.init, existingData: 'keep' },
        },
      ],
    });
    const state = appliedFrom(OLD);
    at(state, 'west').tables['public.orders'] = {
      ...at(state, 'east').tables['public.orders']!,
      hasRows: true,
    };
    const p = runPlan(both, state);
    expect(p.errors.map((e) => e.code)).toEqual(['data-gap']);
    expect(p.errors[0]!.message).toMatch(
      /^subscription west_v2 on west is created without a copy \(init\.method: none\) while this plan drops west_orders, which carried public\.orders: .*declare renamedFrom: west_orders on west_v2/,
    );
    expect(p.steps.filter((s) => printAddress(s.address) === 'subscription.west_v2')).toEqual([]);
  });

  it('every state table keyed on a subscription name moves with it', () => {
    // the tables as the migrations leave them, in order: created, dropped, a column added
    const keyed = new Map<string, boolean>();
    for (const sql of stateMigrations('steep').flatMap((m) => m.statements)) {
      const created = /^CREATE TABLE (?:IF NOT EXISTS )?"steep"\.(\w+) \((.*)\)$/.exec(sql);
      if (created) keyed.set(created[1]!, /(^|, )subscription text/.test(created[2]!));
      const dropped = /^DROP TABLE (?:IF EXISTS )?"steep"\.(\w+)/.exec(sql);
      if (dropped) keyed.delete(dropped[1]!);
      const added = /^ALTER TABLE "steep"\.(\w+) .*ADD COLUMN subscription text/.exec(sql);
      if (added) keyed.set(added[1]!, true);
    }
    const tables = [...keyed].filter(([, k]) => k).map(([t]) => t);
    expect(tables.sort()).toEqual([...SUBSCRIPTION_KEYED_TABLES]);
  });
});

describe('renames: publications', () => {
  const OLD_PUBS = topology({ publications: [PUB] });

  it('a publication nothing reads is renamed in place', () => {
    const t = topology({ publications: [{ ...PUB, name: 'orders_v2', renamedFrom: 'orders_pub' }] });
    const p = runPlan(t, observe(OLD_PUBS));
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => [printAddress(s.address), s.action])).toEqual([
      ['publication.orders_v2', 'update'],
    ]);
    expect(p.steps[0]!.statements.map((s) => s.sql)).toEqual([
      'ALTER PUBLICATION "orders_pub" RENAME TO "orders_v2"',
    ]);
  });

  it('a publication a subscription reads is a plan error naming the subscription and the safe path', () => {
    const t = topology({
      publications: [{ ...PUB, name: 'orders_v2', renamedFrom: 'orders_pub' }],
      subscriptions: [{ ...SUB, publications: ['orders_v2'] }],
    });
    const p = runPlan(t, appliedFrom(OLD));
    const e = p.errors.find((x) => x.code === 'rename.publication-read');
    expect(e?.message).toBe(
      'publication orders_pub on east is read by subscription west_orders on west, which would lose changes if it were renamed ' +
        '(PostgreSQL finds a publication by name as of each change it decodes): declare orders_v2 next to orders_pub instead ' +
        '(without renamedFrom), add orders_v2 to the publications of its subscribers and apply, then remove orders_pub from them ' +
        'and from steep.yaml and apply again',
    );
    expect(e?.address).toBe('publication.orders_v2');
  });

  it('a publication renamed without renamedFrom, read by a streaming subscription: its create waits for the slot to pass it before the subscription reads it', () => {
    const t = topology({
      publications: [{ ...PUB, name: 'orders_v2' }],
      subscriptions: [{ ...SUB, publications: ['orders_v2'] }],
    });
    const p = runPlan(t, appliedFrom(OLD));
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => [printAddress(s.address), s.action])).toEqual([
      ['publication.orders_v2', 'create'],
      ['subscription.west_orders', 'update'],
      ['publication.orders_pub', 'delete'],
    ]);
    const create = p.steps[0]!;
    expect(create.statements[0]!.sql).toMatch(/^CREATE PUBLICATION "orders_v2"/);
    // the wait is apply's, client-side (executors/slotCatchUp.ts): no statement waits on the server
    expect(create.statements.map((x) => x.sql).filter((x) => x.startsWith('DO'))).toEqual([]);
    expect(create.catchUpAfter).toEqual({ publication: 'orders_v2', slots: ['west_orders'] });
    expect(create.reasonText).toContain(
      'then waits until west_orders has confirmed a position past its creation',
    );
    // nothing reads it yet: no wait
    const alone = runPlan(
      topology({ publications: [PUB, { ...PUB, name: 'orders_v2' }], subscriptions: [SUB] }),
      appliedFrom(OLD),
    );
    expect(alone.steps.map((s) => printAddress(s.address))).toEqual(['publication.orders_v2']);
    expect(alone.steps[0]!.catchUpAfter).toBeUndefined();
    // a disabled subscription's slot cannot move: not waited on, the list change is gated data-gap
    const off = appliedFrom(OLD);
    at(off, 'west').subscriptions.west_orders!.enabled = false;
    const gated = runPlan(t, off);
    expect(gated.steps[0]!.catchUpAfter).toBeUndefined();
    expect(gated.steps[1]!.hazards).toContain('data-gap');
    expect(gated.warnings.find((w) => w.code === 'data-gap')?.message).toMatch(
      /subscription west_orders on west is disabled and would start reading orders_v2[\s\S]*public\.orders[\s\S]*set enabled: true for west_orders with publications: \[orders_pub\]/,
    );
    // its slot gone or invalidated: no position to stand on, the gap is the slot's already (its
    // way out copies every table), and the advice above could never work: not gated again
    for (const lose of [
      (o: typeof off) => delete at(o, 'east').slots.west_orders,
      (o: typeof off) => {
        at(o, 'east').slots.west_orders!.walStatus = 'lost';
      },
    ]) {
      const gone = appliedFrom(OLD);
      at(gone, 'west').subscriptions.west_orders!.enabled = false;
      lose(gone);
      const p = runPlan(t, gone);
      expect(p.steps[1]!.hazards ?? []).not.toContain('data-gap');
      expect(p.warnings.find((w) => w.code === 'data-gap')).toBeUndefined();
    }
  });

  it('14–17: a wait for a slot that cannot decode past a publication is refused with its cause and way out, not waited on', () => {
    const t = topology({
      publications: [{ ...PUB, name: 'orders_v2' }],
      subscriptions: [{ ...SUB, publications: ['orders_v2'] }],
    });
    for (const before of [
      appliedFrom(OLD),
      observe(topology({ publications: [PUB, { ...PUB, name: 'orders_v2' }], subscriptions: [SUB] })),
    ]) {
      at(before, 'east').serverVersion = 160004;
      at(before, 'east').slots.west_orders!.stuckAt = 'orders_pub';
      const p = runPlan(t, before);
      const e = p.errors.find((x) => x.code === 'slot-stuck');
      expect(e?.message).toMatch(
        /^slot west_orders of west_orders on east cannot get past the creation of publication orders_pub: PostgreSQL 16 .*: this step's wait for it to confirm a position past now would never end; only `steep reinit west_orders --full` gets past it: .*, then run steep apply again$/,
      );
    }
  });

  it('a publication an earlier apply made (it stopped in its wait) is switched to only after the same wait, before the list changes', () => {
    const t = topology({
      publications: [{ ...PUB, name: 'orders_v2' }],
      subscriptions: [{ ...SUB, publications: ['orders_v2'] }],
    });
    const half = observe(
      topology({ publications: [PUB, { ...PUB, name: 'orders_v2' }], subscriptions: [SUB] }),
    );
    const p = runPlan(t, half);
    expect(p.errors).toEqual([]);
    const alter = p.steps.find((s) => printAddress(s.address) === 'subscription.west_orders')!;
    expect(alter.catchUpBefore).toEqual({
      node: 'east',
      publications: ['orders_v2'],
      slots: ['west_orders'],
    });
    expect(alter.reasonText).toContain(
      'first waits until slot west_orders on east has confirmed a position past now, since orders_v2 exists already',
    );
    // disabled: its slot cannot move, and the change is gated data-gap instead
    at(half, 'west').subscriptions.west_orders!.enabled = false;
    expect(
      runPlan(t, half).steps.find((s) => s.kind === 'subscription-alter')?.catchUpBefore,
    ).toBeUndefined();
  });

  it('an active slot steep cannot attribute, or a subscriber it cannot reach, counts as a reader', () => {
    const t = topology({ publications: [{ ...PUB, name: 'orders_v2', renamedFrom: 'orders_pub' }] });
    const s = observe(OLD_PUBS);
    at(s, 'east').slots.debezium = observedSlot('debezium', { active: true, activePid: 77 });
    expect(runPlan(t, s).errors[0]?.message).toMatch(/read by the consumer streaming from slot debezium/);
    const withSub = topology({
      publications: [{ ...PUB, name: 'orders_v2', renamedFrom: 'orders_pub' }],
      subscriptions: [{ ...SUB, publications: ['orders_v2'] }],
    });
    const down = observe(OLD_PUBS);
    down.nodes.west = unreachable('west');
    expect(runPlan(withSub, down).errors.map((e) => e.code)).toContain('rename.publication-read');
  });
});
