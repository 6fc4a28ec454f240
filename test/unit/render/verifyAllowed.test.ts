import { describe, expect, it } from 'vitest';
import { lossText, type TableVerdict, type VerifyReport } from '../../../src/model/verify.js';
import { renderVerifyMarkdown, renderVerifyText } from '../../../src/render/verify.js';
import { notVerifiable } from '../../../src/workflows/verify.js';

/** A table compared in PostgreSQL's direction (docs/repair.md): its allowed differences said apart. */
const table = (t: Partial<TableVerdict>): TableVerdict => ({
  ...notVerifiable({ table: { schema: 'public', name: 'events' }, reason: '' }),
  status: 'equal',
  reason: null,
  keyColumns: ['id'],
  rows: 100,
  subscriberRows: 112,
  chunks: 1,
  durationMs: 200,
  allowed: {
    missing: 0,
    extra: 12,
    different: 3,
    why: { extra: 'publish has no delete, truncate', different: 'publish has no update' },
  },
  ...t,
});
const report = (t: TableVerdict): VerifyReport => ({
  subscription: 'west_io',
  node: 'west',
  from: 'east',
  tables: [t],
  diverged: t.status === 'diverged',
  notVerifiable: 0,
  state: null,
  onlyCopy: null,
  durationMs: 300,
});

describe('verify output of a table compared in PostgreSQL direction', () => {
  it('says equal in that direction, with the allowed counts and why, and no repair', () => {
    const r = report(table({}));
    const text = renderVerifyText(r);
    expect(text).toContain(
      "public.events  equal in PostgreSQL's direction: 12 extra rows the publisher deleted are rightly kept (publish has no delete, truncate), 3 different rows rightly keep values the publisher changed since (publish has no update)  100 rows",
    );
    expect(text).not.toContain('repair with');
    expect(renderVerifyMarkdown(r)).toContain("| equal in PostgreSQL's direction: 12 extra rows");
  });

  it('diverged by a missing row: the repair it advises names the allowed rows it deletes and overwrites too', () => {
    const r = report(
      table({ status: 'diverged', missing: 1, examples: { missing: [['7']], extra: [], different: [] } }),
    );
    const text = renderVerifyText(r);
    expect(text).toContain("diverged in PostgreSQL's direction: 12 extra rows");
    expect(text).toContain('missing 1, extra 0, different 0');
    expect(text).toContain('      missing: id=7');
    expect(lossText(r)).toBe(
      "12 extra row(s) exist only on west and are deleted, 3 different row(s) take east's values",
    );
  });
});
