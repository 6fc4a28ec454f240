import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AJV_OPTIONS, steepSchema } from '../../../src/config/schema.js';
import { BAD_INPUTS } from './badInputs.js';

/**
 * `npm run build` precompiles steep.yaml's validator (scripts/validator.mjs); it must judge every
 * file exactly as the validator compiled at run time does.
 */
const PRECOMPILED = new URL('../../../dist/config/steepSchema.validator.cjs', import.meta.url);
const SPEC_EXAMPLE = readFileSync(new URL('./fixtures/spec-example.yaml', import.meta.url), 'utf8');

const schemaText = readFileSync(new URL('../../../schemas/steep.schema.json', import.meta.url), 'utf8');

/** The precompiled validator; missing (no build) or stale (schema changed since) fails the tests, never skips them. */
function precompiledValidator(): ValidateFunction & { schemaText: string } {
  expect(existsSync(PRECOMPILED), `${PRECOMPILED.pathname} is missing: run npm run build`).toBe(true);
  const v = createRequire(import.meta.url)(PRECOMPILED.pathname) as ValidateFunction & {
    schemaText: string;
  };
  expect(
    v.schemaText === schemaText,
    'the precompiled validator is stale (schemas/steep.schema.json changed since): run npm run build',
  ).toBe(true);
  return v;
}

describe('the precompiled validator', () => {
  const fresh = new Ajv(AJV_OPTIONS).compile(steepSchema());

  it('is there and compiled from the current schemas/steep.schema.json', () => {
    expect(typeof precompiledValidator()).toBe('function');
  });

  it.each([
    { name: 'the SPEC example', text: SPEC_EXAMPLE },
    ...BAD_INPUTS.map((b) => ({ name: b.name, text: b.text })),
  ])('$name: the same verdict and errors', ({ text }) => {
    const precompiled = precompiledValidator();
    let value: unknown;
    try {
      value = parse(text);
    } catch {
      return; // YAML errors never reach the schema
    }
    const a = precompiled(value);
    const b = fresh(value);
    expect(a).toBe(b);
    const shape = (errors: typeof fresh.errors) =>
      (errors ?? []).map((e) => ({ k: e.keyword, i: e.instancePath, s: e.schemaPath, p: e.params }));
    expect(shape(precompiled.errors)).toEqual(shape(fresh.errors));
  });
});
