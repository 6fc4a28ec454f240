import { afterAll, describe, expect, it, vi } from 'vitest';

describe('colour (render/colour.ts)', () => {
  afterAll(() => vi.unstubAllEnvs());

  it('is ANSI colour when turned on, in a terminal ansis finds colour in, and plain text when turned off', async () => {
    // ansis reads the terminal once, when loaded: a terminal with colour, as FORCE_COLOR says
    vi.stubEnv('FORCE_COLOR', '1');
    vi.resetModules();
    const { red, redBold, useColour } = await import('../../../src/render/colour.js');
    useColour(true);
    expect(red('failing')).toBe('\x1b[31mfailing\x1b[39m');
    expect(redBold('Errors:')).toContain('\x1b[1m');
    useColour(false);
    expect(red('failing')).toBe('failing');
    expect(redBold('Errors:')).toBe('Errors:');
  });
});
