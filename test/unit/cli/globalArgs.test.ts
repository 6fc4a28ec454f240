import { describe, expect, it } from 'vitest';
import { globalFlagsLast } from '../../../src/cli/globalArgs.js';

describe('global flags before the command', () => {
  it('are moved after it, with their values, before a --', () => {
    expect(globalFlagsLast(['--no-color', 'plan'])).toEqual(['plan', '--no-color']);
    expect(globalFlagsLast(['-c', 'prod.yaml', '--no-color', 'init', 'cancel', 'x'])).toEqual([
      'init',
      'cancel',
      'x',
      '-c',
      'prod.yaml',
      '--no-color',
    ]);
    expect(globalFlagsLast(['--log-format=json', 'status', '--', '-x'])).toEqual([
      'status',
      '--log-format=json',
      '--',
      '-x',
    ]);
  });

  it('leave everything else as it is', () => {
    expect(globalFlagsLast(['plan', '--no-color'])).toEqual(['plan', '--no-color']);
    expect(globalFlagsLast(['--version'])).toEqual(['--version']);
    expect(globalFlagsLast(['--no-color'])).toEqual(['--no-color']);
    expect(globalFlagsLast([])).toEqual([]);
  });
});
