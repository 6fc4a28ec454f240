import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { DOC_PATH, expectedDoc, REGENERATE, SCHEMA_PATH } from '../../../scripts/steep-yaml-docs.mjs';
import { parseTopology } from '../../../src/config/load.js';

/**
 * docs/steep-yaml.md's reference is generated from schemas/steep.schema.json: the file must be
 * what the generator makes of the schema now, every key the docs list must say what it is, and
 * every version gate the schema documents (`x-postgres`) must be the one `steep validate` enforces.
 */

type Schema = {
  description?: string;
  properties?: Record<string, Schema>;
  definitions?: Record<string, Schema>;
  items?: Schema;
  'x-postgres'?: number | Record<string, number>;
};
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Schema;

/** Every property of the schema, by path, with the definitions' own properties under their name. */
function properties(s: Schema, path: string, out: Map<string, Schema>): Map<string, Schema> {
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    out.set(`${path}${k}`, p);
    properties(p, `${path}${k}.`, out);
  }
  return out;
}
const all = properties(schema, '', new Map());
for (const [name, d] of Object.entries(schema.definitions ?? {})) properties(d, `${name}.`, all);

/** For each documented gate: a file that uses the key (or value), on nodes that declare `version`. */
const GATED: Record<string, (version: number) => string> = {
  'table.columns': (v) => file(v, 'tables: [{ name: public.t, columns: [id] }]'),
  'table.where': (v) => file(v, `tables: [{ name: public.t, where: "id > 0" }]`),
  'publication.schemas': (v) => file(v, 'schemas: [sales]'),
  'publication.generatedColumns': (v) => file(v, 'tables: [public.t], generatedColumns: stored'),
  'subscription.options.twoPhase': (v) => file(v, 'tables: [public.t]', 'twoPhase: true'),
  'subscription.options.disableOnError': (v) => file(v, 'tables: [public.t]', 'disableOnError: true'),
  'subscription.options.origin': (v) => file(v, 'tables: [public.t]', 'origin: none'),
  'subscription.options.passwordRequired': (v) => file(v, 'tables: [public.t]', 'passwordRequired: false'),
  'subscription.options.runAsOwner': (v) => file(v, 'tables: [public.t]', 'runAsOwner: true'),
  'subscription.options.failover': (v) => file(v, 'tables: [public.t]', 'failover: true'),
  'subscription.options.streaming=parallel': (v) => file(v, 'tables: [public.t]', 'streaming: parallel'),
};

function file(version: number, publication: string, option?: string): string {
  return [
    'version: 1',
    'topology: gates',
    'nodes:',
    `  a: { url: "postgres://steep@a.internal/app", serverVersion: ${version} }`,
    `  b: { url: "postgres://steep@b.internal/app", serverVersion: ${version} }`,
    'publications:',
    `  p: { node: a, ${publication} }`,
    'subscriptions:',
    `  s: { node: b, from: a, publications: [p]${option ? `, options: { ${option} }` : ''} }`,
    '',
  ].join('\n');
}

function errors(text: string): string[] {
  try {
    parseTopology(text, 'steep.yaml', {});
    return [];
  } catch (e) {
    return ((e as { problems?: Array<{ severity: string; message: string }> }).problems ?? [])
      .filter((p) => p.severity === 'error')
      .map((p) => p.message);
  }
}

describe('docs/steep-yaml.md from schemas/steep.schema.json', () => {
  test('the generated reference is what the generator makes of the schema now', () => {
    const current = readFileSync(DOC_PATH, 'utf8');
    expect(current === expectedDoc(), `docs/steep-yaml.md is out of date: ${REGENERATE}`).toBe(true);
  });

  test('every key says what it is', () => {
    const undocumented = [...all].filter(([, p]) => !p.description).map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  test('every version gate the schema documents is the one validate enforces, and no other', () => {
    const documented: Array<[string, number]> = [];
    for (const [path, p] of all) {
      const g = p['x-postgres'];
      if (typeof g === 'number') documented.push([path, g]);
      else if (g) for (const [value, v] of Object.entries(g)) documented.push([`${path}=${value}`, v]);
    }
    expect(documented.map(([path]) => path).sort()).toEqual(Object.keys(GATED).sort());
    for (const [path, since] of documented) {
      const make = GATED[path]!;
      expect(errors(make(since)), `${path} on PostgreSQL ${since}`).toEqual([]);
      const refused = errors(make(since - 1));
      expect(refused.length, `${path} on PostgreSQL ${since - 1}`).toBeGreaterThan(0);
      for (const m of refused) expect(m).toContain(`needs PostgreSQL ${since} or later`);
    }
  });
});
