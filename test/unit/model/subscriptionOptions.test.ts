import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MIN_SERVER_VERSION,
  SUBSCRIPTION_OPTION,
  SUBSCRIPTION_OPTIONS,
} from '../../../src/model/versions.js';
import { BASE, check } from '../config/support.js';

/**
 * `SUBSCRIPTION_OPTION` (model/versions.ts) is the one table of subscription options: a row added
 * there fails here until the file format (schemas/steep.schema.json's `options`, with the version
 * that gates it) has it, and config reads every option the table has, as its value reads.
 */

type Schema = {
  properties?: Record<string, Schema>;
  definitions?: Record<string, Schema>;
  type?: string;
  enum?: unknown[];
  'x-postgres'?: number | Record<string, number>;
};
const schema = JSON.parse(readFileSync('schemas/steep.schema.json', 'utf8')) as Schema;
const options = schema.definitions?.subscription?.properties?.options?.properties ?? {};

/** A value of each kind, as a file writes it, and what config makes of it. */
const SAMPLE = {
  boolean: { written: 'true', read: true },
  onOff: { written: 'false', read: 'off' },
} as const;

describe('the subscription option table', () => {
  it("is the schema's subscription options, in its order", () => {
    expect(Object.keys(options)).toEqual(SUBSCRIPTION_OPTIONS);
  });

  it('gates each option in the schema from the version the table names', () => {
    for (const name of SUBSCRIPTION_OPTIONS) {
      const gate = options[name]?.['x-postgres'];
      const since = SUBSCRIPTION_OPTION[name].since;
      // a number gates the option; an object gates some of its values (streaming: parallel)
      const major = typeof gate === 'number' ? gate : MIN_SERVER_VERSION / 10000;
      expect(major * 10000, name).toBe(since);
    }
  });

  it('is what config reads: each option the table has, as its value reads', () => {
    for (const name of SUBSCRIPTION_OPTIONS) {
      const value = SUBSCRIPTION_OPTION[name].value;
      const sample =
        value === 'word'
          ? { written: String(options[name]?.enum?.[0]), read: options[name]?.enum?.[0] }
          : SAMPLE[value];
      const { topology, errors } = check(`${BASE}    options: { ${name}: ${sample.written} }
`);
      expect(errors, name).toEqual([]);
      expect(topology?.subscriptions.west_orders?.options, name).toEqual({ [name]: sample.read });
    }
  });
});
