import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { identifierProblem, parseTableName } from '../../../src/config/identifiers.js';
import { mapDocument, type Path, pathOf, SKIP, type Trail } from '../../../src/config/paths.js';
import { steepSchema } from '../../../src/config/schema.js';
import { editDistance, nearest } from '../../../src/config/suggest.js';
import { parseServerVersion } from '../../../src/config/versions.js';
import { formatDuration, parseDuration } from '../../../src/model/durations.js';

describe('durations', () => {
  it.each([
    [0, 0],
    [250, 250],
    ['250', 250],
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2min', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 5 s ', 5000],
  ])('%j is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([['5 seconds'], ['-1'], [-1], [1.5], ['1w'], ['30d'], [true], ['']])(
    '%j is not a duration',
    (text) => expect(parseDuration(text)).toBeUndefined(),
  );

  it('formats the shortest exact form', () => {
    expect([0, 500, 5000, 90_000, 120_000, 3_600_000].map(formatDuration)).toEqual([
      '0',
      '500ms',
      '5s',
      '90s',
      '2min',
      '1h',
    ]);
  });
});

describe('identifiers and table names', () => {
  it('counts UTF-8 bytes', () => {
    expect(identifierProblem('a'.repeat(63))).toBeUndefined();
    expect(identifierProblem('a'.repeat(64))).toMatch(/64 bytes/);
    expect(identifierProblem('ü'.repeat(32))).toMatch(/64 bytes/);
    expect(identifierProblem('😀'.repeat(16))).toMatch(/64 bytes/);
    expect(identifierProblem('')).toBe('is empty');
  });

  it.each([
    ['orders', { schema: 'public', name: 'orders' }],
    ['sales.orders', { schema: 'sales', name: 'orders' }],
    ['"my.schema".orders', { schema: 'my.schema', name: 'orders' }],
    ['"My Schema"."Order ""Lines"""', { schema: 'My Schema', name: 'Order "Lines"' }],
    ['Sales.Orders', { schema: 'Sales', name: 'Orders' }],
  ])('%s', (text, table) => expect(parseTableName(text)).toEqual({ ok: true, table }));

  it.each([
    ['a.b.c', /has 2 dots/],
    ['a.b.c.d', /has 3 dots/],
    ['.orders', /empty part/],
    ['sales.', /empty part/],
    ['"sales.orders', /not closed/],
    ['sa"les.orders', /inside a name/],
    ['"a"x.b', /after a closing/],
    [`public.${'t'.repeat(64)}`, /64 bytes/],
  ])('%s is refused', (text, problem) => {
    const parsed = parseTableName(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });
});

describe('suggestions', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('hots', 'host')).toBe(1);
    expect(editDistance('publication', 'publications')).toBe(1);
  });

  it('ignores case, _ and -', () => {
    expect(nearest('via_partition_root', ['viaPartitionRoot', 'publish'])).toBe('viaPartitionRoot');
    expect(nearest('AllTables', ['allTables'])).toBe('allTables');
  });

  it('suggests nothing far away', () => {
    expect(nearest('color', ['publications', 'nodes'])).toBeUndefined();
  });
});

describe('server versions', () => {
  it.each([
    [14, 140000],
    ['14', 140000],
    ['18.4', 180004],
    [180004, 180004],
    [' 17 ', 170000],
  ])('%j is %d', (v, n) => expect(parseServerVersion(v)).toBe(n));

  it.each([['x'], [9], [1400], ['14.x'], [14.5]])('%j is not a version', (v) =>
    expect(parseServerVersion(v)).toBeUndefined(),
  );
});

describe('steep.schema.json', () => {
  const schema = steepSchema();

  it('is a valid draft-07 schema', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    // x-postgres: an annotation (the version a key needs) that the generated docs read
    expect(() =>
      new Ajv({ strictTypes: false, allowUnionTypes: true, keywords: ['x-postgres'] }).compile(schema),
    ).not.toThrow();
  });

  it('closes every object and describes every property, for editors', () => {
    const visit = (node: unknown, where: string): void => {
      if (Array.isArray(node)) {
        for (const [i, n] of node.entries()) visit(n, `${where}[${i}]`);
        return;
      }
      if (node === null || typeof node !== 'object') return;
      const s = node as Record<string, unknown>;
      const types = ([] as unknown[]).concat(s.type ?? []);
      if (types.includes('object') && s.properties) {
        expect(s.additionalProperties, `${where} is closed`).toBe(false);
        for (const [key, property] of Object.entries(
          s.properties as Record<string, Record<string, unknown>>,
        )) {
          expect(property.description, `${where}.${key} has a description`).toEqual(expect.any(String));
        }
      }
      for (const [key, child] of Object.entries(s)) visit(child, `${where}/${key}`);
    };
    visit(schema, '#');
  });
});

describe('mapDocument', () => {
  const upper = (v: unknown, trail: Trail): unknown =>
    typeof v === 'string' ? (v.startsWith('x') ? v.toUpperCase() : v) : mapDocument(v, upper, trail);

  it('hands back a list or mapping as itself when nothing in it changed, a new one otherwise', () => {
    const untouched = { a: ['b', { c: 'd' }], e: 1 };
    const doc = { keep: untouched, change: { f: ['g', 'xh'], i: 'j' } };
    const out = mapDocument(doc, upper) as typeof doc;
    expect(out).toEqual({ keep: untouched, change: { f: ['g', 'XH'], i: 'j' } });
    expect(out).not.toBe(doc);
    expect(out.keep).toBe(untouched);
    expect(out.change).not.toBe(doc.change);
    expect(doc.change.f).toEqual(['g', 'xh']);
  });

  it('makes a tagged or prototype-less mapping a plain one, keeps __proto__ a key, leaves out SKIP', () => {
    const bare = Object.assign(Object.create(null), { a: 'b' });
    const out = mapDocument({ d: new Date(0), bare }, upper) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out.d)).toBe(Object.prototype);
    expect(out.d).toEqual({});
    expect(Object.getPrototypeOf(out.bare)).toBe(Object.prototype);
    expect(out.bare).toEqual({ a: 'b' });
    const proto = JSON.parse('{"__proto__": "xp", "k": "v"}');
    const mapped = mapDocument(proto, upper) as Record<string, unknown>;
    expect(Object.getPrototypeOf(mapped)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(mapped, '__proto__')?.value).toBe('XP');
    const paths: Path[] = [];
    const dropped = mapDocument({ a: { b: 1, c: 2 } }, function drop(v, trail): unknown {
      paths.push(pathOf(trail));
      return trail.key === 'c' ? SKIP : mapDocument(v, drop, trail);
    });
    expect(dropped).toEqual({ a: { b: 1 } });
    expect(paths).toEqual([['a'], ['a', 'b'], ['a', 'c']]);
  });
});
