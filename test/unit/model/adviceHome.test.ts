import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADVICE, type AdviceEntry, adviceText } from '../../../src/model/advice.js';
import { sourceFiles } from '../../support/sourceFiles.js';

/**
 * model/advice.ts is the one home of the repairs steep prints: a command of an entry is spelled
 * there alone (every other file asks `adviceText`), and docs/repair.md's "Advice" names every
 * entry, so an entry added there fails here until the docs name it.
 */

const ENTRIES = Object.keys(ADVICE) as AdviceEntry[];

/** Every .ts file under src/, as [path, text]. */
const sources = () => sourceFiles('src').map((path): [string, string] => [path, readFileSync(path, 'utf8')]);

/**
 * An entry's command spelled by hand around a subscription's name: `steep verify ${…}`,
 * `steep reinit ${…} --full`, `steep init cancel ${…}`. Not an entry: `steep reinit ${…} again`
 * (run the same command again) and `steep reinit ${…} --tables, naming …` (which tables is the
 * user's to say).
 */
const HAND_SPELLED =
  /steep (?:verify|reinit|init cancel) \$\{[^}]*\}(?! again|[`']? again| --tables, naming)/;

describe('the one home of advice', () => {
  it('no file but model/advice.ts spells the command of an entry', () => {
    const spelled = sources()
      .filter(([path]) => path !== join('src', 'model', 'advice.ts'))
      .flatMap(([path, text]) =>
        text
          .split('\n')
          .flatMap((line, i) => (HAND_SPELLED.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(spelled).toEqual([]);
  });

  it("docs/repair.md's Advice names every entry", () => {
    const doc = readFileSync('docs/repair.md', 'utf8');
    const start = doc.indexOf('## Advice');
    const section = doc.slice(start, doc.indexOf('\n## ', start + 1)).replace(/\s+/g, ' ');
    const unnamed = ENTRIES.filter((e) => {
      // the command as the docs write it (SUB, with or without `--tables …`), without what it adds in parentheses
      const texts = [[], ['…']].map((t) => adviceText(e, 'SUB', t).replace(/ \(.*\)$/, ''));
      return !texts.some((text) => section.includes(`\`${text}\``));
    });
    expect(unnamed).toEqual([]);
  });
});
