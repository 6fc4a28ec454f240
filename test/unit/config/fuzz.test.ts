import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseTopology } from '../../../src/config/load.js';
import { SteepError } from '../../../src/model/errors.js';

const example = readFileSync(new URL('./fixtures/spec-example.yaml', import.meta.url), 'utf8');
const env = { EAST_PGPASSWORD: 'pw', WEST_URL: 'postgres://w@west/app' };

/** parseTopology returns, or throws config.invalid with positioned problems; nothing else. */
function parsesOrReports(text: string): void {
  try {
    parseTopology(text, 'steep.yaml', env);
  } catch (e) {
    if (!(e instanceof SteepError)) throw e;
    expect(e.code).toBe('config.invalid');
    expect(e.problems.length).toBeGreaterThan(0);
    for (const p of e.problems) {
      if (p.position) {
        expect(p.position.line).toBeGreaterThanOrEqual(1);
        expect(p.position.column).toBeGreaterThanOrEqual(1);
      }
    }
  }
}

const keys = fc.constantFrom(
  'version',
  'topology',
  'nodes',
  'publications',
  'subscriptions',
  'settings',
  'east',
  'node',
  'from',
  'tables',
  'url',
  'options',
  'init',
  '__proto__',
  'constructor',
);
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(`\${env:EAST_PGPASSWORD}`, `\${env:UNSET}`, `\${foo}`, 'a.b.c', 'postgres://u:p@h:1/d'),
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(keys, tie('any'), { maxKeys: 4 }),
  ),
})).any;

describe('parseTopology never crashes', () => {
  it('on random structures', () => {
    fc.assert(
      fc.property(fc.dictionary(keys, value, { maxKeys: 6 }), (doc) => parsesOrReports(stringify(doc))),
      { numRuns: 300 },
    );
  });

  it('on the SPEC example with random edits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(8), fc.string({ maxLength: 6 })), { maxLength: 4 }),
        (edits) => {
          let text = example;
          for (const [at, del, insert] of edits) {
            const i = at % (text.length + 1);
            text = text.slice(0, i) + insert + text.slice(i + del);
          }
          parsesOrReports(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('on the SPEC example with a value replaced anywhere', () => {
    const base = parse(example) as Record<string, unknown>;
    const paths: string[][] = [];
    const collect = (v: unknown, path: string[]) => {
      paths.push(path);
      if (v !== null && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) collect(child, [...path, k]);
      }
    };
    collect(base, []);
    fc.assert(
      fc.property(fc.nat(), value, fc.option(keys), (pick, replacement, extraKey) => {
        const doc = structuredClone(base);
        const path = paths[pick % paths.length]!;
        if (path.length === 0) return;
        let parent = doc as Record<string, unknown>;
        for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string, unknown>;
        const last = path[path.length - 1]!;
        if (extraKey !== null && typeof parent[last] === 'object' && parent[last] !== null) {
          (parent[last] as Record<string, unknown>)[extraKey] = replacement;
        } else {
          parent[last] = replacement;
        }
        parsesOrReports(stringify(doc));
      }),
      { numRuns: 300 },
    );
  });

  it('on hostile input: alias bombs, deep nesting, huge files', () => {
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(9)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(',')}]`,
      );
    parsesOrReports(bomb.join('\n'));
    parsesOrReports('['.repeat(200_000));
    parsesOrReports(`version: 1\ntopology: ${'x'.repeat(5 * 1024 * 1024)}\n`);
  });
});
