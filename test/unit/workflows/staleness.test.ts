import { describe, expect, it } from 'vitest';
import type { Plan, Step } from '../../../src/model/plan.js';
import { asSaved, staleness } from '../../../src/workflows/savedPlan.js';

const step = (over: Partial<Step>): Step =>
  ({
    id: 'init:west:orders_sub',
    address: { kind: 'subscription', name: 'orders_sub' },
    node: 'west',
    action: 'init',
    statements: [],
    dependsOn: [],
    hazards: [],
    changes: [{ path: 'init.state', before: 'uninitialized', after: 'synchronized' }],
    catalogDigest: 'abc',
    ...over,
  }) as Step;

const plan = (steps: Step[], inputs: Plan['inputs'] = { targets: [], lsn: {}, allowHazards: [] }): Plan =>
  ({
    steepVersion: '0.1.0',
    observed: { digest: 'o' },
    config: { digest: 'c' },
    inputs,
    steps,
    errors: [],
  }) as unknown as Plan;

const publication = (name: string, over: Partial<Step> = {}): Step =>
  ({
    id: `s-${name}`,
    address: { kind: 'publication', name },
    node: 'east',
    kind: 'publication-create',
    action: 'create',
    reason: 'absent',
    reasonText: `declared in steep.yaml, absent on east`,
    statements: [{ sql: `CREATE PUBLICATION "${name}" FOR ALL TABLES`, transactional: true }],
    dependsOn: [],
    hazards: [],
    changes: [],
    catalogDigest: 'abc',
    ...over,
  }) as Step;

describe('staleness of a plan against the fresh one', () => {
  it('an init step that only follows and records is not stale when PostgreSQL finished the copy meanwhile', () => {
    expect(staleness(asSaved(plan([step({})])), plan([]))).toEqual([]);
  });

  it('an init step that copies, or runs SQL, and is no longer needed is stale', () => {
    const copies = step({
      changes: [
        { path: 'init.copy', before: null, after: 'steep' },
        { path: 'init.state', before: 'copying', after: 'synchronized' },
      ],
    });
    const enables = step({
      statements: [{ sql: 'ALTER SUBSCRIPTION "orders_sub" ENABLE', transactional: true }],
    });
    for (const s of [copies, enables]) {
      expect(staleness(asSaved(plan([s])), plan([]))).toEqual([
        'init subscription.orders_sub: no longer needed',
      ]);
    }
  });

  it('a step the saved plan lacks is named, whatever its address', () => {
    const saved = asSaved(
      plan([publication('pa')], { targets: ['publication.pa'], lsn: {}, allowHazards: [] }),
    );
    expect(
      staleness(
        saved,
        plan([publication('pa'), publication('pb')], {
          targets: ['publication.pa'],
          lsn: {},
          allowHazards: [],
        }),
      ),
    ).toEqual(['create publication.pb on east: needed now, not in the plan']);
  });

  it('a step is the same only with the same SQL, digest, hazards, changes and dependencies; not its words', () => {
    const saved = asSaved(plan([publication('pa'), publication('pb', { dependsOn: ['s-pa'] })]));
    const same = plan([
      publication('pa', { id: 's1', reasonText: 'other words' }),
      publication('pb', { id: 's2', dependsOn: ['s1'] }),
    ]);
    expect(staleness(saved, same)).toEqual([]);
    const changed = plan([
      publication('pa', { hazards: ['locks-table'], catalogDigest: 'def' }),
      publication('pb', { dependsOn: [], changes: [{ path: 'tables', before: null, after: ['t'] }] }),
    ]);
    expect(staleness(saved, changed)).toEqual([
      'create publication.pa: the catalog rows it depends on on east changed, its hazards would now be locks-table (saved: none)',
      'create publication.pb: its changes would now differ, it would now wait for nothing (saved: create publication.pa)',
    ]);
  });

  it('the same steps in another order, another steep, other inputs: stale', () => {
    const saved = asSaved(plan([publication('pa'), publication('pb')]));
    expect(staleness(saved, plan([publication('pb'), publication('pa')]))).toEqual([
      'the steps would now run in another order: create publication.pb, create publication.pa',
    ]);
    expect(
      staleness(saved, { ...plan([publication('pa'), publication('pb')]), steepVersion: '0.2.0' }),
    ).toEqual(['the plan was made by steep 0.1.0, this is steep 0.2.0']);
    expect(
      staleness(
        saved,
        plan([publication('pa'), publication('pb')], {
          targets: ['publication.pa'],
          lsn: {},
          allowHazards: [],
        }),
      ),
    ).toEqual(['the plan was made with no --target, --lsn or --allow-hazard, not --target publication.pa']);
  });

  it('where the nodes now give plan errors, the errors are why: not the steps they leave out', () => {
    // a refresh planned without a copy (the rows shown held), whose counts moved apart before
    // apply's second read: the copy into held rows is refused there, and the step is missing
    const refresh = publication('pa', { kind: 'subscription-alter', action: 'update' });
    const refused = {
      ...plan([]),
      errors: [
        {
          code: 'existing-data',
          message:
            'subscription s would copy t, which join it, into tables that already hold rows on west; set init.existingData: truncate',
        },
      ],
    };
    // another steep.yaml is named first: the errors are those of a file the plan was not made from
    expect(
      staleness(asSaved(plan([refresh])), { ...refused, config: { digest: 'd' } } as unknown as Plan),
    ).toEqual(['steep.yaml changed since the plan was made (sha256:c… → sha256:d…)']);
    expect(staleness(asSaved(plan([refresh])), refused)).toEqual([
      'planned again, the plan has 1 error: subscription s would copy t, which join it, into tables that already hold rows on west; set init.existingData: truncate',
    ]);
  });
});
