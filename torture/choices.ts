import fc from 'fast-check';

/**
 * The choices an operation makes inside itself (a restart's mode, the tables of a reinit, a
 * kill's point): drawn by fast-check from the command's own generator (`fc.gen()`), so a
 * counterexample shrinks them too (towards the first item, `false`) and its seed and path replay
 * them. Each choice made is kept, for the sequence's report.
 */
export interface Random {
  pick: <T>(items: readonly T[]) => T;
  chance: (p: number) => boolean;
}

export function choices(g: fc.GeneratorValue, made: string[] = []): Random {
  return {
    pick: (items) => {
      const i = g(fc.integer, { min: 0, max: items.length - 1 });
      made.push(String(items[i]));
      return items[i]!;
    },
    chance: (p) => {
      // in thousandths: shrinks towards 0, i.e. `true` for any p > 0
      const yes = g(fc.integer, { min: 0, max: 999 }) < p * 1000;
      made.push(String(yes));
      return yes;
    },
  };
}

/** Always the first item, never the chance: for a world's first apply and the self-tests. */
export const FIRST_CHOICES: Random = { pick: (items) => items[0]!, chance: () => false };
