import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { readPlainYaml } from '../../../src/config/plainYaml.js';

/** What `yaml` makes of a text, with the options steep parses with; undefined when it finds errors. */
function viaYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false, merge: true, prettyErrors: false });
  return doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 });
}

/** Whatever the plain reader returns, `yaml` returns too, and `yaml` finds no error in it; true when it read the text. */
function agrees(text: string): boolean {
  const plain = readPlainYaml(text);
  if (plain !== undefined) expect(plain, text).toEqual(viaYaml(text));
  return plain !== undefined;
}

// pieces of real steep.yaml files (most of them), and of what YAML allows besides
const plainScalar = fc.constantFrom(
  'east',
  'orders-eu',
  'public.t1',
  'postgres://u@h:5432/app',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
  '${env:PW}',
  '10s',
  '4',
  '0',
  '007',
  'true',
  'FALSE',
  'null',
  '~',
  'Null',
  'nULL',
  'yes',
  '',
  "'quoted'",
  '"double"',
  "'it''s'",
  'a  # comment',
  'a#c',
  '[a, b]',
  '[]',
  '[1, x, true]',
  '{ method: two-phase, parallel: 4, splitAbove: 1TB }',
  '{a: 1}',
  '{}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
  '{ url: "postgres://u@h:5432/app", password: "${env:PW}" } # c',
  "{ strategy: 'last-modified:updated_at', x: ~ }",
  '["a]", \'b,c\']',
  "status = 'x'",
  '"a" # c',
  'a b c',
  'x{y}',
  '12345678901234567890',
);
const otherScalar = fc.oneof(
  fc.constantFrom(
    '18.4',
    '1e3',
    '-5',
    '+5',
    '.5',
    '.inf',
    '.nan',
    '0x1F',
    '0o17',
    '"a\\tb"',
    '"a: b"',
    'a: b',
    '[a, [b]]',
    '{a: {b: 1}}',
    '{a: [b]}',
    '{a: 1, a: 2}',
    '{a b: 1}',
    '{a: b: c}',
    '{a: b:c}',
    '{a: 1,}',
    '{a: 1} x',
    '{a: 1',
    '{a}',
    '{"a": 1}',
    '{a: "x" y}',
    "{a: it's}",
    '{a: -1}',
    '[.5"q,r"]',
    '{a: b"c, d: e"}',
    '{a: 1.5}',
    '&x a',
    '*x',
    '!!str 5',
    '|',
    '>',
    '- a',
    'a:',
    '"open',
    "'open",
    '[a, "b,c"]',
    '[a, b,]',
    '@x',
    '`x`',
    '%x',
    '? a',
  ),
  fc.string({ maxLength: 12 }),
);
const scalar = fc.oneof({ arbitrary: plainScalar, weight: 8 }, { arbitrary: otherScalar, weight: 1 });
const key = fc.oneof(
  { arbitrary: fc.constantFrom('nodes', 'url', 'n0', 'pub_1', 'a-b', 'tables', 'x', 'Y'), weight: 4 },
  { arbitrary: fc.nat(99).map((n) => `k${n}`), weight: 4 },
  {
    arbitrary: fc.oneof(
      fc.constantFrom('true', 'null', '1', '__proto__', '<<', 'a b', 'x.y', '"q"'),
      fc.string({ minLength: 1, maxLength: 6 }),
    ),
    weight: 1,
  },
);

type Tree = string | { map: Array<[string, Tree]> } | { list: Tree[] };
const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.record({ map: fc.array(fc.tuple(key, tie('t')), { minLength: 1, maxLength: 4 }) }),
    fc.record({ list: fc.array(tie('t'), { minLength: 1, maxLength: 4 }) }),
  ),
})).t;

/** Block YAML of a tree, with some indentation choices YAML allows (lists at their key's indentation). */
function render(t: Tree, indent: number, sameIndentLists: boolean): string[] {
  const pad = ' '.repeat(indent);
  if (typeof t === 'string') return [`${pad}${t}`];
  if ('map' in t) {
    return t.map.flatMap(([k, v]) => {
      if (typeof v === 'string') return [`${pad}${k}: ${v}`];
      const inner = 'list' in v && sameIndentLists ? indent : indent + 2;
      return [`${pad}${k}:`, ...render(v, inner, sameIndentLists)];
    });
  }
  return t.list.flatMap((v) => {
    if (typeof v === 'string') return [`${pad}- ${v}`];
    const [first, ...rest] = render(v, indent + 2, sameIndentLists);
    return 'map' in v ? [`${pad}- ${first!.trimStart()}`, ...rest] : [`${pad}-`, first!, ...rest];
  });
}

describe('the plain YAML reader', () => {
  it('reads a steep.yaml as yaml does', () => {
    const text = [
      'version: 1',
      'topology: orders-eu  # the name',
      'settings:',
      '  connectTimeout: 10s',
      '  parallel: 4',
      'nodes:',
      '  east:',
      '    url: postgres://steep@east:5432/app',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
      "    password: '${env:EAST_PGPASSWORD}'",
      'publications:',
      '  orders_pub:',
      '    node: east',
      '    tables:',
      '    - public.orders',
      '    - name: public.lines',
      '      columns: [id, "qty"]',
      "      where: status = 'open'",
      'subscriptions:',
      '  west_orders:',
      '    node: west',
      '    publications: [orders_pub]',
      '    init:',
      '',
      '# end',
    ].join('\n');
    expect(readPlainYaml(text)).toEqual(viaYaml(text));
    expect(readPlainYaml(text)).toMatchObject({ version: 1, subscriptions: { west_orders: { init: null } } });
  });

  it('reads one-line flow mappings as yaml does (the README and the benches write them)', () => {
    const text = [
      'nodes:',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
      '  east: { url: "postgres://steep@east.internal:5432/app", password: "${env:EAST_PGPASSWORD}" }',
      'subscriptions:',
      '  west_orders:',
      '    init: { method: two-phase, parallel: 4, splitAbove: 1TB }',
      "    merge: { strategy: 'last-modified:updated_at' }  # c",
      '    ignore: {}',
    ].join('\n');
    expect(readPlainYaml(text)).toEqual(viaYaml(text));
    expect(readPlainYaml(text)).toMatchObject({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: steep.yaml's placeholder
      nodes: { east: { password: '${env:EAST_PGPASSWORD}' } },
      subscriptions: {
        west_orders: { init: { method: 'two-phase', parallel: 4, splitAbove: '1TB' }, ignore: {} },
      },
    });
  });

  it('leaves anything else to yaml', () => {
    for (const text of [
      'a: &x 1\nb: *x',
      'a: !!str 5',
      'a: |\n  text',
      'a: 1\na: 2',
      'a: "x\\ty"',
      'a: [b,\n  c]',
      'a: {b: {c: 1}}',
      'a: {b: 1,\n  c: 2}',
      'a:\tb',
      'a: 1.5',
      'a: 0x10',
      '<<: {a: 1}',
      '- a\n- b',
      '%YAML 1.1\n---\na: 1',
      'a: b\n  c',
      '"a": 1',
    ]) {
      expect(readPlainYaml(text), text).toBeUndefined();
    }
  });

  it('never disagrees with yaml on generated documents', () => {
    let read = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, tree), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (entries, same) => {
          const t: Tree = { map: entries };
          if (agrees(`${render(t, 0, same).join('\n')}\n`)) read++;
        },
      ),
      { numRuns: 3000 },
    );
    // the shortcut is taken often enough for the comparison to mean something
    expect(read).toBeGreaterThan(300);
  });

  it('never disagrees with yaml on mutated lines', () => {
    let read = 0;
    const base = ['a: 1', 'b:', '  - x', '  - y: 2', '    z: [p, q]', 'c:', '- d', 'e: "f" # g', "h: 'i'"];
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(...base),
            fc.tuple(fc.nat(6), key, scalar).map(([i, k, v]) => `${' '.repeat(i)}${k}: ${v}`),
          ),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        (lines) => {
          if (agrees(lines.join('\n'))) read++;
        },
      ),
      { numRuns: 3000 },
    );
    expect(read).toBeGreaterThan(150);
  });

  it('never disagrees with yaml on one-line flow collections made of awkward pieces', () => {
    let read = 0;
    const piece = fc.constantFrom(
      ...['{', '}', '[', ']', ',', ':', ': ', ' ', ' #', '#', '"', "'", '""', "''", '\\', '-', '~'],
      ...['a', 'b1', 'x y', '1', '.5', '0x1', 'true', '__proto__', '{a: 1}', '"q,r"', "'it''s'"],
    );
    fc.assert(
      fc.property(fc.constantFrom('{', '['), fc.array(piece, { maxLength: 14 }), (open, pieces) => {
        if (agrees(`k: ${open}${pieces.join('')}\n`)) read++;
      }),
      { numRuns: 20000 },
    );
    expect(read).toBeGreaterThan(100);
  });
});
