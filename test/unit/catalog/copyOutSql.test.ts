import { describe, expect, it } from 'vitest';
import { type CopySourceTable, copyOutSql } from '../../../src/catalog/copySource.js';

const table = (over: Partial<CopySourceTable> = {}): CopySourceTable => ({
  schema: 'public',
  name: 'items',
  columns: [
    { name: 'id', type: 'bigint', builtin: true },
    { name: 'g', type: 'text', builtin: true },
  ],
  rowFilter: null,
  estimatedBytes: 0,
  estimatedRows: 0,
  key: { column: 'id', type: 'bigint' },
  partitioned: false,
  generated: false,
  ...over,
});

describe("the COPY that reads one chunk of steep's own copy", () => {
  const whole = { lower: null, upper: null };

  it('names the table where it can, a SELECT where COPY cannot read it so', () => {
    expect(copyOutSql(table(), whole, true)).toBe(
      'COPY "public"."items" ("id", "g") TO STDOUT WITH (FORMAT binary)',
    );
    // a stored generated column PostgreSQL 18 sends: COPY refuses it by name ("is a generated column")
    const select = 'COPY (SELECT "id", "g" FROM "public"."items") TO STDOUT';
    expect(copyOutSql(table({ generated: true }), whole, false)).toBe(select);
    expect(copyOutSql(table({ partitioned: true }), whole, false)).toBe(select);
    expect(copyOutSql(table(), { lower: '10', upper: null }, false)).toBe(
      `COPY (SELECT "id", "g" FROM "public"."items" WHERE "id" >= '10'::bigint) TO STDOUT`,
    );
  });
});
