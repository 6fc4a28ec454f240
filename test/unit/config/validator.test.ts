import { createHash } from 'node:crypto';
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

describe.skipIf(!existsSync(PRECOMPILED))('the precompiled validator', () => {
  const precompiled = createRequire(import.meta.url)(PRECOMPILED.pathname) as ValidateFunction & {
    schemaSha256: string;
  };
  const schemaText = readFileSync(new URL('../../../schemas/steep.schema.json', import.meta.url), 'utf8');
  const fresh = new Ajv(AJV_OPTIONS).compile(steepSchema());
  const stale = precompiled.schemaSha256 !== createHash('sha256').update(schemaText).digest('hex');

  it
    .skipIf(stale)
    .each([
      { name: 'the SPEC example', text: SPEC_EXAMPLE },
      ...BAD_INPUTS.map((b) => ({ name: b.name, text: b.text })),
    ])('$name: the same verdict and errors', ({ text }) => {
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
