import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import { at, BASE, check, envRef } from './support.js';

/** "line:col code: message" of every error, for exact comparison. */
function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  return check(text, env).errors.map((e) => `${at(e)} ${e.code}: ${e.message}`);
}

const withSubscriptionLines = (lines: string) =>
  BASE.replace('    publications: [orders_pub]', `    publications: [orders_pub]\n${lines}`);

describe('references', () => {
  it('a subscription cannot subscribe to its own node', () => {
    expect(errorsOf(BASE.replace('    from: east', '    from: west'))).toEqual(
      [
        '16:20 publication-on-other-node: subscription `west_orders`: publication `orders_pub` lives on node `east`, not on `west` (the `from` node)',
        '15:11 subscribes-to-itself: subscription `west_orders`: `node` and `from` are both `west`; a node cannot subscribe to itself',
      ].sort(),
    );
  });

  it('a publication on an undeclared node', () => {
    expect(errorsOf(BASE.replace('    node: east\n', '    node: south\n'))).toEqual([
      '10:11 unknown-node: publication `orders_pub`: node `south` is not declared in `nodes`',
    ]);
  });

  it('two subscriptions with one slot name on the same publisher', () => {
    const text = `${BASE}  west_orders_2:
    node: west
    from: east
    publications: [orders_pub]
    slot: west_orders
`;
    expect(errorsOf(text)).toEqual([
      '21:11 slot-conflict: subscriptions `west_orders` and `west_orders_2` both use slot `west_orders` on node `east`',
    ]);
  });

  it('two two-phase subscriptions on one slot: a snapshot seeds exactly one', () => {
    const text = `${BASE}  west_orders_2:
    node: west
    from: east
    publications: [orders_pub]
    slot: west_orders
    init: { method: two-phase }
`;
    expect(errorsOf(text)).toEqual([
      '21:11 slot-conflict: subscriptions `west_orders` and `west_orders_2` both use slot `west_orders` on node `east` (a two-phase snapshot seeds exactly one subscription, on its slot)',
    ]);
  });

  it('one slot name on different publishers is fine', () => {
    const text = BASE.replace('  west:\n', '  north: {}\n  west:\n')
      .concat(`  other:
    node: west
    from: north
    publications: [north_pub]
    slot: west_orders
`)
      .replace('subscriptions:\n', '  north_pub: {node: north, tables: [t]}\nsubscriptions:\n');
    expect(errorsOf(text)).toEqual([]);
  });

  it('a default slot name must be a valid slot name', () => {
    const text = BASE.replaceAll('west_orders', 'WestOrders');
    expect(errorsOf(text)).toEqual([
      "13:3 bad-slot-name: subscription `WestOrders`: its slot name defaults to the subscription's name, which may hold only lower-case letters, digits and `_`",
    ]);
    expect(errorsOf(withSubscriptionLines('    slot: west-orders'))).toEqual([
      '17:11 bad-slot-name: subscription `west_orders`: slot name `west-orders` may hold only lower-case letters, digits and `_`',
    ]);
  });

  it('a publication lists tables and/or schemas, or allTables alone', () => {
    const none = BASE.replace('    tables: [public.orders]\n', '');
    expect(errorsOf(none)).toEqual(['9:3 publishes-nothing: publication `orders_pub` publishes nothing']);
    const two = BASE.replace(
      '    tables: [public.orders]\n',
      '    tables: [public.orders]\n    allTables: true\n',
    );
    expect(errorsOf(two)).toEqual([
      '12:5 publication-scope: publication `orders_pub`: `allTables: true` publishes every table; give it without `tables` and `schemas`',
    ]);
    // FOR TABLE …, TABLES IN SCHEMA … (15+), and an empty publication, are valid
    const mixed = BASE.replace(
      '    tables: [public.orders]\n',
      '    tables: [public.orders]\n    schemas: [sales]\n',
    );
    expect(errorsOf(mixed)).toEqual([]);
    expect(errorsOf(BASE.replace('    tables: [public.orders]\n', '    tables: []\n'))).toEqual([]);
    const falseAll = BASE.replace(
      '    tables: [public.orders]\n',
      '    tables: [public.orders]\n    allTables: false\n',
    );
    expect(errorsOf(falseAll)).toEqual([]);
  });

  it('a table listed twice (bare name = public)', () => {
    expect(errorsOf(BASE.replace('tables: [public.orders]', 'tables: [public.orders, orders]'))).toEqual([
      '11:29 duplicate-table: publication `orders_pub` lists table `public.orders` twice (first at line 11, column 14)',
    ]);
  });
});

describe('nodes', () => {
  it('url and connection fields are exclusive', () => {
    expect(
      errorsOf(
        BASE.replace(
          '    url: postgres://steep@east.internal:5432/app',
          '    url: postgres://steep@east/app\n    port: 5433',
        ),
      ),
    ).toEqual(['6:5 url-and-fields: node `east`: `port` cannot be combined with `url`']);
  });

  it('a standby: url and connection fields are exclusive too', () => {
    expect(
      errorsOf(
        BASE.replace(
          '    url: postgres://steep@east.internal:5432/app',
          '    url: postgres://steep@east/app\n    standbys:\n      - {url: "postgres://steep@east-b/app", port: 5433}',
        ),
      ),
    ).toEqual([
      '7:46 url-and-fields: node `east`: item 1 of `standbys`: `port` cannot be combined with `url`',
    ]);
  });

  it('a url that is not a postgres URL, without echoing it', () => {
    const errors = check(
      BASE.replace('postgres://steep@east.internal:5432/app', 'mysql://root:pw@db/app'),
    ).errors;
    expect(errors.map((e) => `${at(e)} ${e.message}`)).toEqual([
      '5:10 node `east`: `url` is not a postgres:// or postgresql:// URL',
    ]);
    expect(errorsOf(BASE.replace('east.internal:5432', 'east.internal:99999'))).toEqual([
      '5:10 bad-url: node `east`: `url` has port `99999`; a port is 1 to 65535',
    ]);
    expect(errorsOf(BASE.replace('east.internal:5432', 'a:1,b:2'))).toEqual([
      '5:10 bad-url: node `east`: `url` names several hosts; steep needs one host per node',
    ]);
  });

  it('an unknown url parameter is a warning', () => {
    const { errors, warnings } = check(
      BASE.replace('east.internal:5432/app', 'east.internal:5432/app?connect_timeout=5'),
    );
    expect(errors).toEqual([]);
    expect(warnings.map((w) => `${at(w)} ${w.message}`)).toEqual([
      '5:10 node `east`: `url` parameter `connect_timeout` is not used by steep',
    ]);
  });

  it('url parameters libpq would act on and steep cannot are errors naming what to write instead', () => {
    const url = (q: string) => BASE.replace('east.internal:5432/app', `east.internal:5432/app?${q}`);
    expect(errorsOf(url('channel_binding=require'))).toEqual([
      '5:10 url-parameter-unsupported: node `east`: `url` parameter `channel_binding=require` is not supported by steep: its own sessions and the subscriptions it creates would connect without channel binding, which libpq and psql refuse',
    ]);
    expect(errorsOf(url('sslpassword=k3y'))).toEqual([
      '5:10 url-parameter-unsupported: node `east`: `url` parameter `sslpassword` is not supported by steep: it reads no client key protected by a passphrase',
    ]);
    expect(errorsOf(url('service=east'))).toEqual([
      '5:10 url-parameter-unsupported: node `east`: `url` parameter `service` is not supported by steep: it reads no pg_service.conf',
    ]);
    const refused = check(url('sslpassword=k3y&service=east'));
    expect(refused.errors.map((e) => e.hint)).toEqual([
      'give sslkey a key without a passphrase (openssl pkey -in KEY -out KEY.plain, mode 0600)',
      "write the service's host, port, dbname, user and TLS settings (sslmode, sslrootcert, sslcert, sslkey) in the url or the node's fields",
    ]);
    expect(JSON.stringify(refused)).not.toContain('k3y');
    // what libpq does by default, or turns off: a warning as any other parameter steep does not use
    expect(check(url('channel_binding=prefer')).errors).toEqual([]);
  });

  it('serverVersion must be a supported PostgreSQL version', () => {
    const node = (v: string) => errorsOf(`version: 1\ntopology: t\nnodes:\n  a: {serverVersion: ${v}}\n`);
    expect(node('13')).toEqual([
      '4:22 version-unsupported: node `a`: PostgreSQL 13 is not supported; steep needs PostgreSQL 14 or later',
    ]);
    expect(node('"x"')).toEqual([
      '4:22 invalid-value: node `a`: `serverVersion` must be a PostgreSQL version like 14, "18.4" or 180004',
    ]);
    expect(node('140000')).toEqual([]);
    expect(node('"17"')).toEqual([]);
  });
});

describe('version-gated options, where the node declares its version', () => {
  const gated = `version: 1
topology: t
nodes:
  old: {serverVersion: 14}
  new: {serverVersion: 18}
publications:
  p:
    node: old
    tables:
      - {name: a, columns: [x], where: "x > 0"}
  q: {node: old, schemas: [s]}
  r: {node: new, schemas: [s], generatedColumns: stored}
subscriptions:
  s:
    node: old
    from: new
    publications: [r]
    options: {streaming: parallel, failover: true, runAsOwner: false, passwordRequired: true, origin: none, twoPhase: true, binary: true}
`;

  it('each unsupported option is an error naming the version it needs', () => {
    expect(check(gated).errors.map((e) => `${at(e)} ${e.message}`)).toEqual([
      '10:19 publication `p`: `columns` (a column list) needs PostgreSQL 15 or later; node `old` declares 14',
      '10:33 publication `p`: `where` (a row filter) needs PostgreSQL 15 or later; node `old` declares 14',
      '11:18 publication `q`: `schemas` (FOR TABLES IN SCHEMA) needs PostgreSQL 15 or later; node `old` declares 14',
      '18:15 subscription `s`: `streaming: parallel` needs PostgreSQL 16 or later; subscriber `old` declares 14',
      '18:36 subscription `s`: `failover` needs PostgreSQL 17 or later; subscriber `old` declares 14',
      '18:52 subscription `s`: `runAsOwner` needs PostgreSQL 16 or later; subscriber `old` declares 14',
      '18:71 subscription `s`: `passwordRequired` needs PostgreSQL 16 or later; subscriber `old` declares 14',
      '18:95 subscription `s`: `origin` needs PostgreSQL 16 or later; subscriber `old` declares 14',
      '18:109 subscription `s`: `twoPhase` needs PostgreSQL 15 or later; subscriber `old` declares 14',
    ]);
  });

  it('nothing is checked for nodes that declare no version', () => {
    expect(errorsOf(gated.replace('{serverVersion: 14}', '{}'))).toEqual([]);
  });

  it('failover also needs a publisher of 17', () => {
    const text = gated
      .replace('{serverVersion: 14}', '{serverVersion: 17}')
      .replace('{serverVersion: 18}', '{serverVersion: 16}');
    expect(check(text).errors.map((e) => e.message)).toEqual([
      'publication `r`: `generatedColumns` needs PostgreSQL 18 or later; node `new` declares 16',
      'subscription `s`: `failover` needs PostgreSQL 17 or later; publisher `new` declares 16',
    ]);
  });
});

describe('values', () => {
  it('enum values suggest the nearest', () => {
    expect(errorsOf(withSubscriptionLines('    options: {streaming: paralel}'))).toEqual([
      '17:26 invalid-value: subscription `west_orders`: `streaming` must be one of off, on, parallel; did you mean `parallel`?',
    ]);
  });

  it('parallel is 1..16', () => {
    expect(
      errorsOf(BASE.replace('topology: orders-eu', 'topology: orders-eu\nsettings: {parallel: 17}')),
    ).toEqual(['3:22 invalid-value: settings: `parallel` must be between 1 and 16']);
  });

  it('durations', () => {
    const settings = (v: string) =>
      errorsOf(`version: 1\ntopology: t\nsettings:\n  lockTimeout: ${v}\nnodes: {a: {}}\n`);
    expect(settings('5 seconds')).toEqual([
      '4:16 invalid-value: settings: `lockTimeout` must be a duration like 5s, 500ms, 2min or 1h, or a number of milliseconds',
    ]);
    expect(settings('30d')).toEqual([
      '4:16 invalid-value: settings: `lockTimeout` must be at most 2147483647ms (2147483647 ms)',
    ]);
  });

  it('verify.window: a duration up to a year, or off; never 0', () => {
    const window = (v: string) =>
      errorsOf(`version: 1\ntopology: t\nsettings:\n  verify: { window: ${v} }\nnodes: {a: {}}\n`);
    expect(window('7d')).toEqual([]);
    expect(window('30d')).toEqual([]);
    expect(window('off')).toEqual([]);
    expect(window('a week')).toEqual([
      '4:21 invalid-value: settings: `window` must be a duration like 7d, 12h or 30min, or off',
    ]);
    expect(window('0s')).toEqual([
      '4:21 invalid-value: settings: `window` must be a duration from 1ms to 366d (7d, 12h, 30min), or off to waive it',
    ]);
    expect(window('400d')).toEqual([
      '4:21 invalid-value: settings: `window` must be a duration from 1ms to 366d (7d, 12h, 30min), or off to waive it',
    ]);
  });

  it('version must be 1, topology a simple id', () => {
    expect(errorsOf(BASE.replace('version: 1', 'version: 2').replace('orders-eu', 'Orders EU'))).toEqual([
      '1:10 invalid-value: `version` must be 1',
      '2:11 invalid-value: `topology` must be a simple name: lower-case letters, digits, `_` and `-`, at most 63 characters',
    ]);
    expect(errorsOf(BASE.replace('orders-eu', 'x'.repeat(64)))).toHaveLength(1);
    expect(errorsOf(BASE.replace('orders-eu', 'x'.repeat(63)))).toEqual([]);
  });

  it('a missing value reads as "has no value"', () => {
    expect(errorsOf(BASE.replace('    from: east', '    from:'))).toEqual([
      '15:5 wrong-type: subscription `west_orders`: `from` has no value; it must be a string',
    ]);
  });

  it('init method merge needs a strategy of SPEC §2 naming a node of the pair; a one-way one may say prefer-source/prefer-target', () => {
    expect(errorsOf(withSubscriptionLines('    init: {method: merge}'))).toEqual([
      '17:12 merge-strategy: subscription `west_orders`: init method merge needs a `strategy` for conflicting rows',
    ]);
    for (const ok of [
      'prefer-source',
      'prefer-target',
      'prefer:east',
      'prefer:west',
      'last-modified:updated_at',
      'manual',
    ]) {
      const { errors, topology } = check(
        withSubscriptionLines(`    init: {method: merge, strategy: "${ok}"}`),
      );
      expect(errors).toEqual([]);
      expect(topology?.subscriptions.west_orders?.init).toMatchObject({ method: 'merge', strategy: ok });
    }
    expect(errorsOf(withSubscriptionLines('    init: {method: merge, strategy: "prefer:south"}'))).toEqual([
      '17:37 merge-strategy: subscription `west_orders`: strategy `prefer:south` names node `south`, which is not one of `east` and `west`',
    ]);
    expect(errorsOf(withSubscriptionLines('    init: {method: two-phase}'))).toEqual([]);
    expect(errorsOf(withSubscriptionLines('    init: {method: snapshot, strategy: prefer-source}'))).toEqual(
      [],
    );
  });
});

describe('interpolation', () => {
  it('$${env:X} is the literal text', () => {
    const { topology, errors } = check(
      // a function replacement: in a replacement string, $$ would mean $
      BASE.replace(
        'tables: [public.orders]',
        () => `tables: [{name: public.orders, where: "note <> '$${envRef('X')}'"}]`,
      ),
    );
    expect(errors).toEqual([]);
    expect(topology?.publications.orders_pub?.tables[0]?.where).toBe(`note <> '${envRef('X')}'`);
  });

  it('an unknown placeholder is an error that says how to write it', () => {
    const { errors } = check(BASE.replace('    from: east', `    from: \${PUBLISHER}`));
    expect(errors.map((e) => `${at(e)} ${e.message} (${e.hint})`)).toEqual([
      `15:11 subscription \`west_orders\`: \`\${PUBLISHER}\` is not a placeholder steep knows (write \`${envRef('PUBLISHER')}\` to read an environment variable, or \`$\${PUBLISHER}\` for the literal text)`,
    ]);
  });

  it('interpolates anywhere a string is', () => {
    const { topology } = check(BASE.replace('    from: east', `    from: ${envRef('PUBLISHER')}`), {
      PUBLISHER: 'east',
    });
    expect(topology?.subscriptions.west_orders?.from).toBe('east');
  });
});

describe('hostile and odd files', () => {
  it('an alias bomb is refused before it expands', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) {
      const previous = i === 0 ? 'a' : ['b', 'c', 'd', 'e', 'f', 'g'][i - 1];
      lines.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    // expanded, it would be 10^7 values: the test's timeout catches a parser that expands it
    expect(errorsOf(lines.join('\n'))).toEqual([
      '1:1 too-many-aliases: aliases expand to too many values (more than 100 alias references)',
    ]);
  });

  it('deep nesting is refused before parsing', () => {
    expect(errorsOf(`version: 1\nnodes: ${'['.repeat(100_000)}`)).toEqual([
      '2:264 yaml-syntax: lists and mappings are nested more than 256 levels deep',
    ]);
  });

  it('several YAML documents', () => {
    expect(errorsOf(`${BASE}---\nversion: 1\n`)).toEqual([
      '17:1 yaml-syntax: the file holds more than one YAML document (a second `---`)',
    ]);
  });

  it('a byte-order mark is ignored; invalid UTF-8 is refused', () => {
    expect(check(`\uFEFF${BASE}`).errors).toEqual([]);
    expect(() => parseTopology(Buffer.from([0x76, 0xff, 0xfe]), 'steep.yaml', {})).toThrow(/1 problem/);
  });

  it('a duplicate key inside an object', () => {
    expect(errorsOf(BASE.replace('    from: east', '    from: east\n    from: west'))).toEqual([
      '16:5 duplicate-key: key `from` appears twice in `subscriptions.west_orders` (first at line 15, column 5)',
    ]);
  });

  it('a node called __proto__ is refused, not silently lost', () => {
    expect(errorsOf(BASE.replace('  west:\n', '  __proto__: {}\n  west:\n'))).toEqual([
      '6:3 bad-identifier: node name `__proto__` is reserved; choose another name',
    ]);
  });

  // found by test/cli/fuzzCli.test.ts: each of these crashed with a RangeError, hung, or printed
  // yaml's own words
  it('an alias inside the value its anchor marks is refused, not walked forever', () => {
    expect(errorsOf('version: 1\ntopology: t\nnodes: &a {x: *a}\n')).toEqual([
      '3:15 circular-alias: *a is inside the value &a marks, so that value would contain itself',
    ]);
    expect(errorsOf('version: 1\ntopology: t\nsettings: &s\n  <<: *s\n')).toEqual([
      '4:7 circular-alias: *s is inside the value &s marks, so that value would contain itself',
    ]);
  });

  it('nesting is bounded after parsing too: block nesting, and aliases counted as what they stand for', () => {
    const block = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i + 2)}k:`).join('\n');
    expect(errorsOf(`version: 1\ntopology: t\nsettings:\n${block} x\n`)).toEqual([
      '259:258 too-deep: lists and mappings are nested more than 256 levels deep',
    ]);
    let chain = `a0: &a0 ${'['.repeat(200)}x${']'.repeat(200)}\n`;
    for (let i = 1; i < 3; i++) chain += `a${i}: &a${i} ${'['.repeat(200)}*a${i - 1}${']'.repeat(200)}\n`;
    expect(errorsOf(chain)).toEqual([
      '2:209 too-deep: lists and mappings are nested more than 256 levels deep once *a0 is expanded',
    ]);
  });

  it("nesting too deep for yaml's own parser is one positioned problem", () => {
    const dashes = `version: 1\nx:\n  ${'- '.repeat(100_000)}a\n`;
    expect(errorsOf(dashes)).toEqual([
      '3:200003 yaml-syntax: lists and mappings are nested too deeply to read',
    ]);
    // 2800 block mappings, then back to the left margin: yaml's parser recurses once per level
    const block = Array.from({ length: 2800 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    expect(errorsOf(`${block} x\ntopology: t\n`)).toEqual([
      '2800:2800 yaml-syntax: lists and mappings are nested too deeply to read',
    ]);
  });

  it('the same deep file gives the same problem however deep the stack steep is called from', () => {
    const pad = (n: number) => ' '.repeat(n + 2);
    const shapes = {
      mappings: (n: number) => Array.from({ length: n }, (_, i) => `${pad(i)}k:`).join('\n'),
      lists: (n: number) => Array.from({ length: n }, (_, i) => `${pad(i)}-`).join('\n'),
      // a list at its key's own indentation: two levels for every two columns
      'lists under keys': (n: number) =>
        Array.from({ length: n }, (_, i) => `${pad(i - (i % 2))}${i % 2 ? '- k:' : 'k:'}`).join('\n'),
    };
    const from = (frames: number, text: string): string[] =>
      frames === 0 ? errorsOf(text) : from(frames - 1, text);
    for (const [shape, nest] of Object.entries(shapes)) {
      for (const levels of [300, 1173, 2500]) {
        const text = `version: 1\ntopology: t\nsettings:\n${nest(levels)} x\n`;
        const shallow = errorsOf(text);
        expect(shallow, `${shape} ${levels}`).toHaveLength(1);
        expect(from(3000, text), `${shape} ${levels}`).toEqual(shallow);
      }
    }
  });

  it('a merge key needs mappings, and one mapping may merge twice', () => {
    expect(errorsOf('version: 1\ntopology: t\nsettings:\n  <<: 3\n')).toEqual([
      '4:7 bad-merge: a merge key (`<<`) must be given a mapping, an alias of one, or a list of those',
    ]);
    const twice = BASE.replace(
      'publications:\n',
      'x-lock: &lock {lockTimeout: 2s}\nx-par: &par {parallel: 3}\nsettings:\n  <<: *lock\n  <<: *par\npublications:\n',
    );
    const { topology, errors } = check(twice);
    expect(errors).toEqual([]);
    expect(topology?.settings).toMatchObject({ lockTimeout: 2000, parallel: 3 });
  });

  it('a key named toString or valueOf in a list item is an unknown key, not a validator crash', () => {
    const text = BASE.replace('    tables: [public.orders]', '    tables:\n      - {}\n      - toString: x');
    expect(errorsOf(text)).toContain('13:9 unknown-key: publication `orders_pub`: unknown key `toString`');
  });

  it('a top-level key named after an Object property is no kind of entity in messages', () => {
    expect(errorsOf('constructor:\n  a: 1\n  a: 2\n')).toEqual([
      '3:3 duplicate-key: key `a` appears twice in `constructor` (first at line 2, column 3)',
    ]);
    expect(errorsOf('__proto__:\n  x:\n    - toString: 1\n').join('\n')).not.toMatch(
      /object Object|native code/,
    );
  });

  it('a name of an Object method is not a declared node or publication', () => {
    const text = BASE.replace('    node: east', '    node: constructor').replace(
      '    publications: [orders_pub]',
      '    publications: [orders_pub, toString]',
    );
    expect(errorsOf(text)).toEqual([
      '10:11 unknown-node: publication `orders_pub`: node `constructor` is not declared in `nodes`',
      '16:32 unknown-publication: subscription `west_orders`: publication `toString` is not declared in `publications`',
    ]);
  });

  it('a tagged key (binary, timestamp) is not a name, and loads without a process warning', () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      expect(errorsOf(`${BASE}!!binary aGVsbG8=: 1\n`)).toEqual([
        '17:10 bad-key: keys must be plain names, not lists, mappings or empty',
      ]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});
