import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quoteIdent, quoteLiteral } from '../../src/model/sql.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * Hostile identifiers and row filters (SPEC §11): names with quotes, semicolons, backslashes,
 * `$$`, newlines, unicode, upper case and 63 bytes are used correctly quoted; names PostgreSQL
 * cannot hold and row filters that try to leave their clause are refused with a clear message.
 * Every statement steep sends is logged by the servers (log_statement = all) and checked: each
 * occurrence of a hostile name lies inside a quoted identifier or a quoted literal.
 */
const cluster = useCluster({
  nodes: ['east', 'west'],
  version: 18,
  settings: { log_statement: 'all', log_line_prefix: '@@@%a@@@ ', log_min_error_statement: 'error' },
});

const SCHEMA = 'Sch"ema; $$x$$';
const TABLES = [
  'quo"te',
  'semi;colon; DROP TABLE x; --',
  "back\\slash\\' it's",
  'dollar$$body$$ $q$',
  'new\nline',
  'ÜniCödé_表_🙂',
  'UPPER_Case',
  `L${'o'.repeat(62)}`, // 63 bytes
  `${'é'.repeat(31)}X`, // 63 bytes, 32 characters
];
const COLUMN = 'co"l;$$ -- \\';
const PUBLICATION = 'Pub "hostile"; $$';
const SUBSCRIPTION = 'Sub "hostile"; DROP';
const SLOT = 'sub_hostile';
const FILTER_TABLE = TABLES[0]!;
/** a filter on the hostile column whose literal tries to leave the clause; accepted, used quoted */
const GOOD_FILTER = `${quoteIdent(COLUMN)} <> 'x''); DROP TABLE x; --'`;

/** Filters that try to break out of `WHERE (…)`: each must be refused, and table x survive. */
const BAD_FILTERS = [
  'true); DROP TABLE x; --',
  "id > 0) WITH (publish = 'insert'",
  'id > 0 --',
  'id > 0); SELECT pg_sleep(0',
  'true) /*',
];

const yamlString = (s: string) => JSON.stringify(s);
const tableItem = (schema: string, name: string) => yamlString(`${quoteIdent(schema)}.${quoteIdent(name)}`);

function configText(opts: { tables?: string; subscriptions?: string } = {}): string {
  const [east, west] = cluster().nodes;
  return [
    'version: 1',
    'topology: hostile',
    nodesYaml([east!, west!]),
    'publications:',
    `  ${yamlString(PUBLICATION)}:`,
    '    node: east',
    '    tables:',
    opts.tables ??
      [
        ...TABLES.filter((t) => t !== FILTER_TABLE).map((t) => `      - ${tableItem(SCHEMA, t)}`),
        `      - name: ${tableItem(SCHEMA, FILTER_TABLE)}`,
        `        where: ${yamlString(GOOD_FILTER)}`,
      ].join('\n'),
    'subscriptions:',
    opts.subscriptions ??
      [
        `  ${yamlString(SUBSCRIPTION)}:`,
        '    node: west',
        '    from: east',
        `    slot: ${SLOT}`,
        `    publications: [${yamlString(PUBLICATION)}]`,
      ].join('\n'),
    '',
  ].join('\n');
}

const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

// ---- the statement log ------------------------------------------------------------------------

/** Spans [start, end) of quoted identifiers, string literals (E'' too) and dollar-quoted strings. */
function quotedSpans(sql: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const identChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_$]/u.test(c);
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) break;
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') j += 2;
          else break;
        } else j++;
      }
      spans.push([i, j + 1]);
      i = j + 1;
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'" && !identChar(sql[i - 1]))) {
      const escapes = c !== "'";
      let j = escapes ? i + 2 : i + 1;
      for (;;) {
        if (j >= sql.length) break;
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === "'") {
          if (sql[j + 1] === "'") j += 2;
          else break;
        } else j++;
      }
      spans.push([i, j + 1]);
      i = j + 1;
    } else if (c === '$' && !identChar(sql[i - 1])) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (!m) {
        i++;
        continue;
      }
      const end = sql.indexOf(m[0], i + m[0].length);
      const stop = end < 0 ? sql.length : end + m[0].length;
      spans.push([i, stop]);
      i = stop;
    } else i++;
  }
  return spans;
}

interface Statement {
  node: string;
  app: string;
  text: string;
}

/** Statements (and their bound parameters) that steep's sessions sent, from a server's log. */
function loggedStatements(node: TestNode): Statement[] {
  const log = readFileSync(join(node.dataDir, 'server.log'), 'utf8');
  const out: Statement[] = [];
  const entries = log.split(/^(?=@@@)/m);
  for (const entry of entries) {
    const m = /^@@@(.*?)@@@ ([A-Z]+): {2}([\s\S]*)$/.exec(entry);
    if (!m) continue;
    const [, app, level, body] = m as unknown as [string, string, string, string];
    if (!app.startsWith('steep') || app === 'steep-test') continue;
    // continuation lines of a multi-line message are written with a tab after the newline
    const message = body.replace(/\n$/, '').replace(/\n\t/g, '\n');
    let text: string | undefined;
    if (level === 'LOG') {
      const s = /^(?:statement|execute [^:]*): ([\s\S]*)$/.exec(message);
      if (s) text = s[1];
    } else if (level === 'DETAIL') {
      const s = /^parameters: ([\s\S]*)$/.exec(message);
      if (s) text = s[1];
    } else if (level === 'STATEMENT') text = message;
    if (text !== undefined) out.push({ node: node.name, app, text });
  }
  return out;
}

/** Occurrences of `name` in `sql` that are not wholly inside one quoted identifier or literal. */
function unquotedOccurrences(sql: string, name: string): number[] {
  const spans = quotedSpans(sql);
  const bad: number[] = [];
  for (let at = sql.indexOf(name); at >= 0; at = sql.indexOf(name, at + 1)) {
    const end = at + name.length;
    if (!spans.some(([s, e]) => s < at && end <= e - 1)) bad.push(at);
  }
  return bad;
}

// ---- the tests --------------------------------------------------------------------------------

describe('hostile names and row filters', () => {
  let tried = 0;

  it('uses hostile schema, table, column, publication and subscription names correctly quoted', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const node of [east, west]) {
      await node.query('CREATE TABLE public.x (id int)');
      await node.query(`CREATE SCHEMA ${quoteIdent(SCHEMA)}`);
      for (const t of TABLES) {
        const extra = t === FILTER_TABLE ? `, ${quoteIdent(COLUMN)} text` : '';
        await node.query(
          `CREATE TABLE ${quoteIdent(SCHEMA)}.${quoteIdent(t)} (id bigint PRIMARY KEY, v text${extra})`,
        );
      }
      // the row filter uses the hostile column: the replica identity must cover it (else every UPDATE fails)
      await node.query(`ALTER TABLE ${quoteIdent(SCHEMA)}.${quoteIdent(FILTER_TABLE)} REPLICA IDENTITY FULL`);
    }
    for (const t of TABLES) {
      const extra = t === FILTER_TABLE ? `, ${quoteIdent(COLUMN)}` : '';
      const values = t === FILTER_TABLE ? ", 'kept'), (2, 'b', 'x''); DROP TABLE x; --'" : '';
      await east.query(
        `INSERT INTO ${quoteIdent(SCHEMA)}.${quoteIdent(t)} (id, v${extra}) VALUES (1, ${quoteLiteral(t)}${values})`,
      );
    }

    const path = writeConfig(configText());
    const plan = await steep(['plan'], path);
    expect(plan.code, `${plan.stdout}\n${plan.stderr}`).toBe(0);
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);

    // the objects exist under exactly these names
    expect(await east.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [PUBLICATION])).toHaveLength(
      1,
    );
    expect(await west.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [SUBSCRIPTION])).toHaveLength(
      1,
    );
    const published = await east.query<{ tablename: string; rowfilter: string | null }>(
      'SELECT tablename, rowfilter FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2',
      [PUBLICATION, SCHEMA],
    );
    expect(published.map((p) => p.tablename).sort()).toEqual([...TABLES].sort());
    expect(published.find((p) => p.tablename === FILTER_TABLE)?.rowfilter).toContain(quoteIdent(COLUMN));

    // the initial rows and later rows arrive, the filter holds, table x survives
    for (const t of TABLES) {
      await east.query(`INSERT INTO ${quoteIdent(SCHEMA)}.${quoteIdent(t)} (id, v) VALUES (3, 'later')`);
    }
    for (const t of TABLES) {
      // the filter keeps row 1 ('kept'); row 2 (the literal) fails it, row 3 (NULL) too
      const expected = t === FILTER_TABLE ? ['1'] : ['1', '3'];
      await eventually(
        async () => {
          const rows = await west.query<{ id: string }>(
            `SELECT id::text FROM ${quoteIdent(SCHEMA)}.${quoteIdent(t)} ORDER BY id`,
          );
          return JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(expected);
        },
        HANG_MS,
        `rows of ${t} on west`,
      );
    }
    for (const node of [east, west])
      expect(await node.query(`SELECT 1 FROM pg_class WHERE oid = 'public.x'::regclass`)).toHaveLength(1);

    const replan = await steep(['plan', '--detailed-exitcode'], path);
    expect(replan.code, replan.stdout).toBe(0);

    // every statement steep sent: each hostile name only ever inside quotes
    const names = [SCHEMA, ...TABLES, COLUMN, PUBLICATION, SUBSCRIPTION];
    tried += names.length + 1; // and the accepted filter
    const statements = [...loggedStatements(east), ...loggedStatements(west)];
    expect(statements.length).toBeGreaterThan(20);
    // the checker itself catches a name left unquoted or quoted without doubling
    expect(unquotedOccurrences(`ALTER TABLE "quo"te" ADD x int`, 'quo"te')).toHaveLength(1);
    expect(unquotedOccurrences('SELECT 1 FROM UPPER_Case', 'UPPER_Case')).toHaveLength(1);
    expect(unquotedOccurrences(`SELECT 'a' || UPPER_Case || 'b'`, 'UPPER_Case')).toHaveLength(1);
    expect(unquotedOccurrences(`SELECT "UPPER_Case", 'UPPER_Case', E'x\\UPPER_Case'`, 'UPPER_Case')).toEqual(
      [],
    );
    let occurrences = 0;
    const unquoted: string[] = [];
    for (const s of statements) {
      for (const name of names) {
        occurrences += s.text.split(name).length - 1;
        if (name !== quoteIdent(name).slice(1, -1)) occurrences += s.text.split(quoteIdent(name)).length - 1;
        for (const at of unquotedOccurrences(s.text, name)) {
          unquoted.push(`${s.node} [${s.app}] ${JSON.stringify(name)} at ${at}: ${s.text.slice(0, 400)}`);
        }
      }
    }
    expect(unquoted).toEqual([]);
    expect(occurrences).toBeGreaterThan(names.length);
    console.log(
      `hostile names: ${statements.length} statements from steep logged, ${occurrences} occurrences of hostile names, all quoted`,
    );
  });

  it('refuses names PostgreSQL cannot hold and a subscription name that cannot be a slot, with a clear message', async () => {
    const cases: Array<{ what: string; text: string; message: RegExp }> = [
      {
        what: '64-byte table name',
        text: configText({ tables: `      - ${tableItem('public', `L${'o'.repeat(63)}`)}` }),
        message: /is 64 bytes long; PostgreSQL identifiers are at most 63 bytes/,
      },
      {
        what: '64-byte name in 2-byte characters',
        text: configText({ tables: `      - ${tableItem('public', 'é'.repeat(32))}` }),
        message: /is 64 bytes long/,
      },
      {
        what: 'NUL in a table name',
        text: configText({ tables: `      - ${tableItem('public', 'a\u0000b')}` }),
        message: /NUL/,
      },
      {
        what: 'subscription name that cannot be its slot name',
        text: configText({
          tables: `      - ${tableItem(SCHEMA, TABLES[6]!)}`,
          subscriptions: [
            `  ${yamlString('Sub"; DROP TABLE x; --')}:`,
            '    node: west',
            '    from: east',
            `    publications: [${yamlString(PUBLICATION)}]`,
          ].join('\n'),
        }),
        message: /slot name defaults to the subscription's name, which may hold only lower-case letters/,
      },
      {
        what: 'hostile explicit slot name',
        text: configText({
          tables: `      - ${tableItem(SCHEMA, TABLES[6]!)}`,
          subscriptions: [
            `  ${yamlString(SUBSCRIPTION)}:`,
            '    node: west',
            '    from: east',
            `    slot: ${yamlString("s'; DROP TABLE x; --")}`,
            `    publications: [${yamlString(PUBLICATION)}]`,
          ].join('\n'),
        }),
        message: /slot name `s'; DROP TABLE x; --` may hold only lower-case letters/,
      },
    ];
    for (const c of cases) {
      const r = await steep(['validate'], writeConfig(c.text));
      expect(r.code, `${c.what}: ${r.stdout}\n${r.stderr}`).toBe(1);
      expect(`${r.stdout}\n${r.stderr}`, c.what).toMatch(c.message);
      tried += 1;
    }
  });

  it('refuses row filters that try to leave their clause, and table x survives', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    await east.query('CREATE TABLE public.rf_t (id bigint PRIMARY KEY, v text)');
    await west.query('CREATE TABLE public.rf_t (id bigint PRIMARY KEY, v text)');
    for (const filter of BAD_FILTERS) {
      const text = configText({
        tables: [`      - name: public.rf_t`, `        where: ${yamlString(filter)}`].join('\n'),
        subscriptions: [
          '  rf_sub:',
          '    node: west',
          '    from: east',
          `    publications: [${yamlString(PUBLICATION)}]`,
        ].join('\n'),
      });
      const path = writeConfig(text);
      const plan = await steep(['plan'], path);
      const out = `${plan.stdout}\n${plan.stderr}`;
      expect(plan.code, `${filter}: ${out}`).toBe(1);
      expect(out, filter).toMatch(/row filter|syntax error|WHERE/i);
      expect(plan.stdout, filter).not.toContain('steep will perform'); // a failed plan proposes no step
      expect(plan.stdout, filter).toMatch(/Plan failed: 1 error; no step is proposed until it is fixed\./);
      if (filter.includes(';')) expect(plan.stderr, filter).toContain('a row filter is a single expression');
      console.log(out.split('\n').find((l) => l.startsWith('error:')) ?? out.trim());
      const applied = await steep(['apply', '--auto-approve'], path);
      expect(applied.code, `${filter}: ${applied.stdout}`).toBe(1);
      for (const node of [east, west])
        expect(
          await node.query(`SELECT 1 FROM pg_class WHERE oid = 'public.x'::regclass`),
          filter,
        ).toHaveLength(1);
      expect(await west.query(`SELECT 1 FROM pg_subscription WHERE subname = 'rf_sub'`)).toEqual([]);
      tried += 1;
    }
    console.log(`hostile names and row filters tried: ${tried}`);
  });
});
