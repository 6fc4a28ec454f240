import { describe, expect, it } from 'vitest';
import {
  MERGE_FINAL_ROUNDS,
  MERGE_UNFINISHED,
  mergeFinalPass,
  TRANSITIONS,
  transitionPath,
} from '../../../src/model/initLifecycle.js';
import { INIT_STATES } from '../../../src/model/initState.js';

describe('init states and their transitions', () => {
  it('has the eight states of FR-010, each with its moves', () => {
    expect([...INIT_STATES]).toEqual([
      'uninitialized',
      'preparing',
      'copying',
      'catching_up',
      'synchronized',
      'diverged',
      'failed',
      'reinitializing',
    ]);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...INIT_STATES].sort());
  });

  it.each([
    ['uninitialized', 'copying', true],
    ['uninitialized', 'preparing', true],
    ['preparing', 'catching_up', true],
    ['copying', 'catching_up', true],
    ['catching_up', 'synchronized', true],
    ['copying', 'synchronized', false],
    ['synchronized', 'copying', false],
    ['failed', 'copying', true],
    ['failed', 'synchronized', false],
    ['synchronized', 'diverged', true],
    ['diverged', 'reinitializing', true],
    ['reinitializing', 'copying', true],
  ] as const)('%s → %s: %s', (from, to, legal) => {
    expect(TRANSITIONS[from].includes(to)).toBe(legal);
  });

  it('every state can go back to uninitialized (cancel) except uninitialized itself, and every init state can fail', () => {
    for (const s of INIT_STATES) {
      if (s !== 'uninitialized') expect(TRANSITIONS[s]).toContain('uninitialized');
      if (s !== 'failed') expect(TRANSITIONS[s]).toContain('failed');
    }
  });

  it('walks the legal states in between, shortest first', () => {
    expect(transitionPath('copying', 'synchronized')).toEqual(['catching_up', 'synchronized']);
    expect(transitionPath('failed', 'synchronized')).toEqual(['catching_up', 'synchronized']);
    expect(transitionPath('uninitialized', 'copying')).toEqual(['copying']);
    expect(transitionPath('synchronized', 'synchronized')).toEqual([]);
    expect(transitionPath('synchronized', 'copying')).toEqual(['reinitializing', 'copying']);
  });
});

describe('merge init', () => {
  it('the final pass creates when the re-check under the locks finds nothing, reconciles again while rounds remain, then gives up', () => {
    expect(mergeFinalPass(0, 1)).toBe('create');
    expect(mergeFinalPass(0, MERGE_FINAL_ROUNDS)).toBe('create');
    expect(mergeFinalPass(4, 1)).toBe('reconcile-again');
    expect(mergeFinalPass(4, MERGE_FINAL_ROUNDS - 1)).toBe('reconcile-again');
    expect(mergeFinalPass(4, MERGE_FINAL_ROUNDS)).toBe('give-up');
  });

  it('its states are a legal journey: preparing → copying → synchronized, and back to preparing after a failure', () => {
    expect(transitionPath('uninitialized', 'preparing')).toEqual(['preparing']);
    expect(transitionPath('preparing', 'copying')).toEqual(['copying']);
    expect(transitionPath('copying', 'synchronized')).toEqual(['catching_up', 'synchronized']);
    expect(transitionPath('failed', 'preparing')).toEqual(['preparing']);
    expect(MERGE_UNFINISHED).toEqual(['preparing', 'copying', 'failed']);
  });
});
