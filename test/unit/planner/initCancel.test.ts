import { describe, expect, it } from 'vitest';
import { SteepError } from '../../../src/model/errors.js';
import type { InitMethod } from '../../../src/model/initMethods.js';
import { type CancelObserved, planInitCancel } from '../../../src/planner/init/initCancel.js';
import { subscription } from './fixtures.js';

/** `steep init cancel` as steps: what is dropped, truncated and left, from what holds on the nodes. */

const TABLES = [
  { schema: 'public', name: 'a' },
  { schema: 'public', name: 'b' },
];

function sub(method: InitMethod) {
  return subscription('west_s', 'west', 'east', ['p'], {
    init: { method, parallel: 4, existingData: 'fail' },
  });
}

function observed(over: Partial<CancelObserved> = {}): CancelObserved {
  return {
    previous: 'copying',
    existing: { slot: 'west_s' },
    tables: TABLES,
    copiedTables: [],
    preparedSlot: null,
    publisherReachable: true,
    allowDestroy: false,
    ...over,
  };
}

describe('init cancel plan', () => {
  it.each([
    {
      name: 'a snapshot copy under way: disable, drop with its slot, truncate what it copied',
      method: 'snapshot' as const,
      o: observed(),
      drop: ['ALTER SUBSCRIPTION "west_s" DISABLE', 'DROP SUBSCRIPTION "west_s"'],
      truncate: 'TRUNCATE TABLE "public"."a", "public"."b"',
      slotDrop: null,
      droppedWith: 'west_s',
      left: null,
    },
    {
      name: 'the publisher unreachable: the subscription lets go of its slot, which is left and named',
      method: 'snapshot' as const,
      o: observed({ publisherReachable: false }),
      drop: [
        'ALTER SUBSCRIPTION "west_s" DISABLE',
        'ALTER SUBSCRIPTION "west_s" SET (slot_name = NONE)',
        'DROP SUBSCRIPTION "west_s"',
      ],
      truncate: 'TRUNCATE TABLE "public"."a", "public"."b"',
      slotDrop: null,
      droppedWith: null,
      left: 'west_s',
    },
    {
      name: 'its slot not on the reachable publisher: detached, so the drop does not fail on it; nothing is left',
      method: 'snapshot' as const,
      o: observed({ slotOnPublisher: false }),
      drop: [
        'ALTER SUBSCRIPTION "west_s" DISABLE',
        'ALTER SUBSCRIPTION "west_s" SET (slot_name = NONE)',
        'DROP SUBSCRIPTION "west_s"',
      ],
      truncate: 'TRUNCATE TABLE "public"."a", "public"."b"',
      slotDrop: null,
      droppedWith: null,
      left: null,
    },
    {
      name: 'manual, prepared but not yet applied: only the prepared slot goes',
      method: 'manual' as const,
      o: observed({ existing: null, tables: [], preparedSlot: 'west_s', previous: 'preparing' }),
      drop: null,
      truncate: null,
      slotDrop: "SELECT pg_catalog.pg_drop_replication_slot('west_s')",
      droppedWith: null,
      left: null,
    },
    {
      name: 'manual, created: its tables are the restored backup, never truncated',
      method: 'manual' as const,
      o: observed(),
      drop: ['ALTER SUBSCRIPTION "west_s" DISABLE', 'DROP SUBSCRIPTION "west_s"'],
      truncate: null,
      slotDrop: null,
      droppedWith: 'west_s',
      left: null,
    },
    {
      name: 'manual, prepared, publisher unreachable: the prepared slot is left',
      method: 'manual' as const,
      o: observed({ existing: null, tables: [], preparedSlot: 'west_s', publisherReachable: false }),
      drop: null,
      truncate: null,
      slotDrop: null,
      droppedWith: null,
      left: 'west_s',
    },
    {
      name: "a two-phase apply killed midway: the tables steep's copy finished chunks of are emptied",
      method: 'two-phase' as const,
      o: observed({ copiedTables: [{ schema: 'public', name: 'b' }] }),
      drop: ['ALTER SUBSCRIPTION "west_s" DISABLE', 'DROP SUBSCRIPTION "west_s"'],
      truncate: 'TRUNCATE TABLE "public"."b"',
      slotDrop: null,
      droppedWith: 'west_s',
      left: null,
    },
    {
      name: "steep's own copy: a table in both lists is truncated once",
      method: 'snapshot' as const,
      o: observed({ copiedTables: [{ schema: 'public', name: 'a' }] }),
      drop: ['ALTER SUBSCRIPTION "west_s" DISABLE', 'DROP SUBSCRIPTION "west_s"'],
      truncate: 'TRUNCATE TABLE "public"."b", "public"."a"',
      slotDrop: null,
      droppedWith: 'west_s',
      left: null,
    },
    {
      name: 'slot_name = NONE: dropped in one transaction, no slot anywhere',
      method: 'snapshot' as const,
      o: observed({ existing: { slot: null }, tables: [] }),
      drop: ['ALTER SUBSCRIPTION "west_s" DISABLE', 'DROP SUBSCRIPTION "west_s"'],
      truncate: null,
      slotDrop: null,
      droppedWith: null,
      left: null,
    },
  ])('$name', ({ method, o, drop, truncate, slotDrop, droppedWith, left }) => {
    const plan = planInitCancel(sub(method), o);
    expect(plan.drop?.statements.map((s) => s.sql) ?? null).toEqual(drop);
    expect(plan.truncate?.statements.map((s) => s.sql) ?? []).toEqual(truncate ? [truncate] : []);
    expect(plan.slotDrop?.statements.map((s) => s.sql)[0] ?? null).toEqual(slotDrop);
    expect(plan.droppedWithSubscription).toBe(droppedWith);
    expect(plan.slotLeft).toBe(left);
    if (plan.drop) {
      // DROP SUBSCRIPTION that drops a slot cannot run in a transaction block
      expect(plan.drop.statements.at(-1)!.transactional).toBe(droppedWith === null);
      expect(plan.drop.hazards).toContain('drops-object');
    }
    if (plan.truncate) expect(plan.truncate.hazards).toEqual(['truncates-data']);
  });

  it.each(['synchronized', 'diverged', 'reinitializing'] as const)(
    'refuses a %s subscription without --allow-destroy: there is no init to cancel, the repair is verify --repair',
    (previous) => {
      expect(() => planInitCancel(sub('snapshot'), observed({ previous }))).toThrow(SteepError);
      expect(() => planInitCancel(sub('none'), observed({ previous }))).toThrow(
        /no init to cancel; .*steep verify west_s --repair.*only with --allow-destroy$/,
      );
    },
  );

  it.each(['snapshot', 'none'] as const)(
    'drops a streaming %s subscription with --allow-destroy as a destroy: its slot goes, its rows stay',
    (method) => {
      const plan = planInitCancel(sub(method), observed({ previous: 'synchronized', allowDestroy: true }));
      expect(plan.destroys).toBe(true);
      expect(plan.drop!.statements.map((x) => x.sql)).toEqual([
        'ALTER SUBSCRIPTION "west_s" DISABLE',
        'DROP SUBSCRIPTION "west_s"',
      ]);
      expect(plan.droppedWithSubscription).toBe('west_s');
      expect(plan.truncate).toBeNull();
      expect(plan.truncated).toEqual([]);
    },
  );

  it('an init under way is no destroy, with or without --allow-destroy', () => {
    expect(planInitCancel(sub('snapshot'), observed()).destroys).toBe(false);
    expect(planInitCancel(sub('snapshot'), observed({ allowDestroy: true })).destroys).toBe(false);
  });

  it('refuses before anything changes what the role may not do: drop a subscription it does not own, truncate a table without TRUNCATE', () => {
    const access = { role: 'admin', truncateDenied: [] };
    // allowed: nothing to say
    expect(
      planInitCancel(
        sub('snapshot'),
        observed({ existing: { slot: 'west_s', owner: 'admin', mayDrop: true }, access }),
      ).truncated,
    ).toEqual(['public.a', 'public.b']);
    expect(() =>
      planInitCancel(
        sub('snapshot'),
        observed({
          existing: { slot: 'west_s', owner: 'admin', mayDrop: true },
          access: { role: 'admin', truncateDenied: [{ schema: 'public', name: 'b' }] },
        }),
      ),
    ).toThrow(
      'west: role admin may not truncate public.b, which init cancel empties (what the copy filled); run GRANT TRUNCATE ON "public"."b" TO "admin"; on west (as the owner or a superuser); nothing was changed',
    );
    expect(() =>
      planInitCancel(
        sub('snapshot'),
        observed({ existing: { slot: 'west_s', owner: 'postgres', mayDrop: false }, access }),
      ),
    ).toThrow(
      'west: role admin may not drop subscription west_s, whose owner is postgres (only its owner or a superuser may); run steep init cancel west_s as postgres or a superuser; nothing was changed',
    );
    // a table it may not truncate but that the cancel keeps (a destroy keeps the rows): no refusal
    const destroy = planInitCancel(
      sub('snapshot'),
      observed({
        previous: 'synchronized',
        allowDestroy: true,
        existing: { slot: 'west_s', owner: 'admin', mayDrop: true },
        access: { role: 'admin', truncateDenied: TABLES },
      }),
    );
    expect(destroy.truncated).toEqual([]);
  });
});
