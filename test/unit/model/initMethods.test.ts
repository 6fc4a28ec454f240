import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  copiesAtCreate,
  copiesJoiningTables,
  INIT_METHOD,
  INIT_METHODS,
  restoredByUser,
} from '../../../src/model/initMethods.js';

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

describe('the init method table', () => {
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
