import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INIT_STATES } from '../../../src/model/initState.js';
import { STATUS_STATES, STATUS_WORD, VERDICT_STATES } from '../../../src/model/statusWords.js';

/**
 * model/statusWords.ts is the one table of the words `steep status` says: a word added there fails
 * here until docs/status.md explains it, and a word docs/status.md explains without a row fails
 * too. The renderer and the workflow read the rows (the compiler keeps them to the table).
 */

/** The words docs/status.md explains: the first column of its table of states, and its `## \`word\`` sections. */
function documentedWords(): Set<string> {
  const text = readFileSync('docs/status.md', 'utf8');
  const table = text.slice(text.indexOf('| state | when |'));
  const rows = table
    .slice(0, table.search(/\n(?!\|)/))
    .split('\n')
    .slice(2);
  const inTable = rows.flatMap((r) =>
    [...(r.split('|')[1] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!),
  );
  const sections = [...text.matchAll(/^## `([a-z_]+)`/gm)].map((m) => m[1]!);
  return new Set([...inTable, ...sections]);
}

describe('the words of status', () => {
  it('are what docs/status.md explains, every one and no other', () => {
    expect([...documentedWords()].sort()).toEqual([...STATUS_STATES].sort());
  });

  it('begin with the init states, in their order (the Prometheus state set keeps its order)', () => {
    expect(STATUS_STATES.slice(0, INIT_STATES.length)).toEqual([...INIT_STATES]);
    expect(STATUS_STATES.filter((w) => STATUS_WORD[w].from === 'init')).toEqual([...INIT_STATES]);
  });

  it("the rule's words are the rest, each shown with its evidence or why it could not be read", () => {
    expect(VERDICT_STATES).toEqual(STATUS_STATES.slice(INIT_STATES.length));
    for (const w of VERDICT_STATES) expect(STATUS_WORD[w].shows, w).not.toBe('nothing');
    expect(STATUS_STATES.filter((w) => STATUS_WORD[w].tone === 'good')).toEqual(['synchronized']);
  });
});
