import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  copiesAtCreate,
  copiesJoiningTables,
  INIT_METHOD,
  INIT_METHODS,
  restoredByUser,
} from '../../../src/model/initMethods.js';
import { sourceFiles } from '../../support/sourceFiles.js';

/**
 * model/initMethods.ts is the one table of init methods: a row added there fails here until the
 * file format (schemas/steep.schema.json) and the docs (docs/init.md) name it, and a method the
 * schema or the docs name without a row fails too.
 */

type Schema = { properties?: Record<string, Schema>; definitions?: Record<string, Schema>; enum?: string[] };
const schema = JSON.parse(readFileSync('schemas/steep.schema.json', 'utf8')) as Schema;
const methodEnum = (definition: string) =>
  schema.definitions?.[definition]?.properties?.init?.properties?.method?.enum ?? [];

/** The methods docs/init.md names: a row of "The methods" table (`| \`name\``) or a heading. */
function documentedMethods(): Set<string> {
  const text = readFileSync('docs/init.md', 'utf8');
  const section = text.slice(
    text.indexOf('## The methods'),
    text.indexOf('\n## ', text.indexOf('## The methods') + 1),
  );
  const rows = [...section.matchAll(/^\| `([a-z-]+)`/gm)].map((m) => m[1]!);
  const headings = [...text.matchAll(/^#{2,4} `([a-z-]+)`/gm)].map((m) => m[1]!);
  return new Set([...rows, ...headings]);
}

/** Every .ts file under src/, as [path under src/, text]. */
const sources = () =>
  sourceFiles('src').map((path): [string, string] => [path.slice('src/'.length), readFileSync(path, 'utf8')]);

/** `method === 'two-phase'`, `'none' !== unit.method`: a method compared by its name. */
const names = INIT_METHODS.map((m) => m.replace('-', '\\-')).join('|');
const BY_NAME = new RegExp(
  `[mM]ethod\\)?\\s*[!=]==\\s*'(${names})'|'(${names})'\\s*[!=]==\\s*[\\w.?]*[mM]ethod\\b`,
);

describe('the init method table', () => {
  it("is asked instead of a method's name, but in the code the table's comment lists", () => {
    const comment = readFileSync('src/model/initMethods.ts', 'utf8').split('*/')[0]!;
    const listed = new Set([...comment.matchAll(/`([\w/]+\.ts)`/g)].map((m) => m[1]!));
    const comparing = sources()
      .filter(([, text]) => BY_NAME.test(text))
      .map(([path]) => path);
    expect(comparing.filter((path) => !listed.has(path))).toEqual([]);
  });

  it("is init.method's enum in the schema, in its order", () => {
    expect(methodEnum('subscription')).toEqual(INIT_METHODS);
  });

  it("is a link's init.method enum for the methods marked link", () => {
    expect([...methodEnum('link')].sort()).toEqual(INIT_METHODS.filter((m) => INIT_METHOD[m].link).sort());
  });

  it('names every method docs/init.md documents, and docs/init.md documents every method', () => {
    expect([...documentedMethods()].sort()).toEqual([...INIT_METHODS].sort());
  });

  it('answers each predicate from the traits, no for the methods without the trait', () => {
    expect(INIT_METHODS.filter(restoredByUser)).toEqual(['manual', 'physical']);
    expect(INIT_METHODS.filter(copiesJoiningTables)).toEqual(['snapshot', 'two-phase']);
    expect(INIT_METHODS.filter(copiesAtCreate)).toEqual(['snapshot']);
  });

  it('creates on a slot made before it exactly the methods that do not copy at the create', () => {
    for (const m of INIT_METHODS) {
      const { copyData, slotMadeBefore } = INIT_METHOD[m].create;
      expect(copyData && slotMadeBefore, m).toBe(false);
      expect(copyData, m).toBe(copiesAtCreate(m));
    }
  });
});
