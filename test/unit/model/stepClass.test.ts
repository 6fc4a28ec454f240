import { describe, expect, it } from 'vitest';
import { gatedHazards } from '../../../src/model/hazardGate.js';
import type { Action, Change, StepKind } from '../../../src/model/plan.js';
import { ACTION_CLASS, stepClass, summarise } from '../../../src/model/stepClass.js';

const step = (kind: StepKind, action: Action, changes: Change[] = []) => ({ kind, action, changes });

describe('one classification of a step', () => {
  it('by action: the symbol text shows, the summary count, and what --allow-destroy must allow', () => {
    expect(
      Object.entries(ACTION_CLASS).map(([action, c]) => [action, c.symbol, c.colour, c.counted, c.destroys]),
    ).toEqual([
      ['create', '+', 'green', 'create', false],
      ['update', '~', 'yellow', 'update', false],
      ['replace', '-/+', 'magenta', 'replace', true],
      ['delete', '-', 'red', 'delete', true],
      ['init', '>', 'cyan', 'init', false],
      ['sync-schema', '~', 'yellow', 'syncSchema', false],
      ['adopt', '@', 'blue', 'adopt', false],
    ]);
  });

  it('by kind: how apply runs it, and what is steep’s own bookkeeping', () => {
    const cases: Array<[StepKind, Action, string, boolean]> = [
      ['subscription-init', 'init', 'init', false],
      ['merge-init', 'init', 'merge-init', false],
      ['subscription-create', 'create', 'statements', false],
      ['subscription-alter', 'adopt', 'statements', false],
      ['table-sync', 'sync-schema', 'statements', false],
      ['publication-drop', 'delete', 'statements', false],
      ['state-schema', 'create', 'statements', true],
    ];
    for (const [kind, action, run, bookkeeping] of cases) {
      expect(stepClass(step(kind, action)), kind).toMatchObject({ run, bookkeeping });
    }
  });

  it("steep's own copy is the plan's choice (init.copy = steep), not a PostgreSQL copy", () => {
    const own = step('subscription-init', 'init', [{ path: 'init.copy', before: null, after: 'steep' }]);
    const pg = step('subscription-init', 'init', [{ path: 'init.copy', before: null, after: 'postgresql' }]);
    expect([
      stepClass(own).ownCopy,
      stepClass(pg).ownCopy,
      stepClass(step('merge-init', 'init')).ownCopy,
    ]).toEqual([true, false, false]);
  });

  it('the summary counts each action once, in the plan document’s order', () => {
    const actions: Action[] = ['delete', 'sync-schema', 'create', 'sync-schema', 'adopt', 'replace'];
    const summary = summarise(actions.map((action) => ({ action })));
    expect(Object.keys(summary)).toEqual([
      'create',
      'update',
      'replace',
      'delete',
      'init',
      'syncSchema',
      'adopt',
    ]);
    expect(summary).toEqual({
      create: 1,
      update: 0,
      replace: 1,
      delete: 1,
      init: 0,
      syncSchema: 2,
      adopt: 1,
    });
  });

  it('a step that destroys has its slot drop allowed by --allow-destroy; any other needs it by name', () => {
    for (const action of Object.keys(ACTION_CLASS) as Action[]) {
      const gated = gatedHazards({ action, hazards: ['drops-slot'] });
      expect(gated, action).toEqual(ACTION_CLASS[action].destroys ? [] : ['drops-slot']);
    }
  });
});
