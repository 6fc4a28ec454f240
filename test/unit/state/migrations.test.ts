import { describe, expect, it } from 'vitest';
import { INIT_STATES } from '../../../src/model/initState.js';
import { stateMigrations } from '../../../src/state/migrations.js';

describe('state migrations', () => {
  it("subscription_state's CHECK is the model's list of init states, and migration 1 reads as it always has", () => {
    const [first] = stateMigrations('steep');
    const create = first!.statements.find((s) => s.includes('.subscription_state ('))!;
    const states = /CHECK \(state IN \(([^)]*)\)\)/.exec(create)![1]!;
    expect(states.split(', ').map((s) => s.slice(1, -1))).toEqual([...INIT_STATES]);
    // nodes made by an earlier steep ran this very text: migration 1 must not change
    expect(states).toBe(
      "'uninitialized', 'preparing', 'copying', 'catching_up', 'synchronized', 'diverged', 'failed', 'reinitializing'",
    );
  });
});
