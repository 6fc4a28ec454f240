import { compareTableNames, compareText } from '../model/order.js';
import type { GeneratedColumns, PublicationSpec, PublicationTable } from '../model/topology.js';
import { PUBLISH_OPERATIONS } from '../model/topology.js';
import { identifierProblem, parseTableName } from './identifiers.js';
import type { NormaliseContext as Context } from './normalise.js';
import { type Path, withOwner } from './paths.js';
import { renamedFrom } from './subscriptions.js';

/** A publication: tables and/or schemas, or allTables; tables sorted, publish in canonical order. */
export function normalisePublication(ctx: Context, name: string): PublicationSpec {
  const { reader, positions, problems } = ctx;
  const base = ['publications', name];
  const declared = reader.mapping(base) ?? {};

  const allTables = reader.boolean([...base, 'allTables']) ?? false;
  const given: string[] = ['tables', 'schemas'].filter((k) => Object.hasOwn(declared, k));
  if (Object.hasOwn(declared, 'allTables') && declared.allTables !== false) given.push('allTables');
  if (reader.mapping(base) && given.length === 0) {
    problems.error(
      'publishes-nothing',
      `publication \`${name}\` publishes nothing`,
      positions.container(base),
      'give `tables`, `schemas` or `allTables: true`',
    );
  } else if (given.length > 1 && given.includes('allTables')) {
    // tables and schemas together are one publication (FOR TABLE …, TABLES IN SCHEMA …)
    const second = given[1]!;
    problems.error(
      'publication-scope',
      `publication \`${name}\`: \`allTables: true\` publishes every table; give it without \`tables\` and \`schemas\``,
      positions.key([...base, second]),
    );
  }

  const publish = reader.strings([...base, 'publish']).map((s) => s.value);
  return {
    name,
    node: reader.string([...base, 'node']) ?? '',
    allTables,
    tables: allTables ? [] : tables(ctx, name),
    schemas: allTables
      ? []
      : reader
          .strings([...base, 'schemas'])
          .filter((s) => identifierOk(ctx, s.path, s.value, 'schema name'))
          .map((s) => s.value)
          .sort(compareText),
    publish: reader.has([...base, 'publish'])
      ? PUBLISH_OPERATIONS.filter((op) => publish.includes(op))
      : [...PUBLISH_OPERATIONS],
    viaPartitionRoot: reader.boolean([...base, 'viaPartitionRoot']) ?? false,
    generatedColumns: (reader.string([...base, 'generatedColumns']) as GeneratedColumns | undefined) ?? null,
    protect: reader.boolean([...base, 'protect']) ?? false,
    ...renamedFrom(reader, base),
  };
}

function identifierOk(ctx: Context, path: Path, value: string, what: string): boolean {
  const problem = identifierProblem(value);
  if (problem) {
    ctx.problems.error(
      'bad-identifier',
      withOwner(path, `${what} \`${value}\` ${problem}`),
      ctx.positions.value(path),
    );
  }
  return problem === undefined;
}

function tables(ctx: Context, publication: string): PublicationTable[] {
  const { reader, positions, problems } = ctx;
  const base = ['publications', publication, 'tables'];
  const items = reader.list(base) ?? [];
  // a plain loop, each item's path built only to read a mapping or report: a file may list
  // thousands of tables, read once by code V8 has not optimised yet
  const namePath = (i: number): Path => (typeof items[i] === 'string' ? [...base, i] : [...base, i, 'name']);
  // where each table was first listed (its index: the position is looked up for a duplicate only)
  const seen = new Map<string, number>();
  const out: PublicationTable[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const text = reader.string(namePath(i));
    if (text === undefined) continue;
    const parsed = parseTableName(text);
    if (!parsed.ok) {
      problems.error(
        'bad-table-name',
        `publication \`${publication}\`: table name \`${text}\` ${parsed.problem}`,
        positions.value(namePath(i)),
        parsed.hint,
      );
      continue;
    }
    const { schema, name } = parsed.table;
    const key = `${schema}\u0000${name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const at = positions.value(namePath(first));
      problems.error(
        'duplicate-table',
        `publication \`${publication}\` lists table \`${schema}.${name}\` twice (first at line ${at.line}, column ${at.column})`,
        positions.value(namePath(i)),
      );
      continue;
    }
    seen.set(key, i);
    if (typeof item === 'string') {
      out.push({ schema, name, columns: null, where: null });
      continue;
    }
    const itemPath = [...base, i];
    const columns = !reader.has([...itemPath, 'columns'])
      ? null
      : reader
          .strings([...itemPath, 'columns'])
          .filter((c) => identifierOk(ctx, c.path, c.value, 'column name'))
          .map((c) => c.value)
          .sort(compareText);
    const where = reader.string([...itemPath, 'where']) ?? null;
    // written out, not spread: a spread copy is several times slower here
    out.push(
      reader.boolean([...itemPath, 'only']) === true
        ? { schema, name, columns, where, only: true }
        : { schema, name, columns, where },
    );
  }
  return out.sort(compareTableNames);
}
