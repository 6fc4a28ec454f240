import { compareTableNames, compareText } from '../model/order.js';
import type { GeneratedColumns, PublicationSpec, PublicationTable } from '../model/topology.js';
import { PUBLISH_OPERATIONS } from '../model/topology.js';
import { identifierProblem, parseTableName } from './identifiers.js';
import type { NormaliseContext as Context } from './normalise.js';
import { type Path, withOwner } from './paths.js';

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
  // where each table was first listed (its path: the position is looked up for a duplicate only)
  const seen = new Map<string, Path>();
  const out: PublicationTable[] = [];
  (reader.list(base) ?? []).forEach((item, i) => {
    const itemPath = [...base, i];
    const namePath = typeof item === 'string' ? itemPath : [...itemPath, 'name'];
    const text = reader.string(namePath);
    if (text === undefined) return;
    const parsed = parseTableName(text);
    if (!parsed.ok) {
      problems.error(
        'bad-table-name',
        `publication \`${publication}\`: table name \`${text}\` ${parsed.problem}`,
        positions.value(namePath),
        parsed.hint,
      );
      return;
    }
    const key = `${parsed.table.schema}\u0000${parsed.table.name}`;
    const firstPath = seen.get(key);
    if (firstPath) {
      const first = positions.value(firstPath);
      problems.error(
        'duplicate-table',
        `publication \`${publication}\` lists table \`${parsed.table.schema}.${parsed.table.name}\` twice (first at line ${first.line}, column ${first.column})`,
        positions.value(namePath),
      );
      return;
    }
    seen.set(key, namePath);
    const columns =
      typeof item === 'string' || !reader.has([...itemPath, 'columns'])
        ? null
        : reader
            .strings([...itemPath, 'columns'])
            .filter((c) => identifierOk(ctx, c.path, c.value, 'column name'))
            .map((c) => c.value)
            .sort(compareText);
    const where = typeof item === 'string' ? null : (reader.string([...itemPath, 'where']) ?? null);
    const only = typeof item !== 'string' && reader.boolean([...itemPath, 'only']) === true;
    // written out, not spread: a spread copy is several times slower here, 2,500 tables in a file
    const { schema, name } = parsed.table;
    out.push(only ? { schema, name, columns, where, only } : { schema, name, columns, where });
  });
  return out.sort(compareTableNames);
}
