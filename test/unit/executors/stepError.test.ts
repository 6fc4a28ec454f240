import { describe, expect, it } from 'vitest';
import { stepError } from '../../../src/executors/runStep.js';
import type { Step } from '../../../src/model/plan.js';

const step = { address: { kind: 'publication', name: 'orders' }, node: 'east' } as Step;

describe('stepError: what apply prints for a failed step', () => {
  it("PostgreSQL's message and hint, naming the step and its node", () => {
    const err = Object.assign(new Error('canceling statement due to lock timeout'), {
      code: '55P03',
      hint: 'retry later',
    });
    const e = stepError(step, err);
    expect(e.code).toBe('apply.step_failed');
    expect(e.message).toBe('publication.orders on east: canceling statement due to lock timeout');
    expect(e.hint).toBe('retry later');
  });

  it('a message on several lines (libpq about a connection of its own) on one', () => {
    const err = Object.assign(
      new Error(
        'could not create replication slot "s": server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\n',
      ),
      { code: 'XX000' },
    );
    expect(stepError(step, err).message).toBe(
      'publication.orders on east: could not create replication slot "s": server closed the connection unexpectedly This probably means the server terminated abnormally before or while processing the request.',
    );
  });

  it('a session lost under the step: says so, naming the node, and what to do', () => {
    const e = stepError(step, new Error('Connection terminated unexpectedly'));
    expect(e.code).toBe('apply.connection_lost');
    expect(e.node).toBe('east');
    expect(e.address).toBe('publication.orders');
    expect(e.message).toBe(
      "publication.orders on east: lost the connection to east (Connection terminated unexpectedly): the server restarted or stopped, or ended steep's session, " +
        "and apply's lock there with it; once east accepts connections again, run steep apply again: its plan reads from the catalog whether this step took effect",
    );
  });
});
