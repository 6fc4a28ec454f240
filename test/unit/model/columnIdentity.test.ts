import { describe, expect, it } from 'vitest';
import {
  addMissingSql,
  type ColumnIdentities,
  readColumnIdentity,
} from '../../../src/model/columnIdentity.js';
import { type ContinuityBaseline, continuity, gapWayOut } from '../../../src/model/continuity.js';

const T = 'public.t';
const ids = (cols: Record<string, number>): ColumnIdentities =>
  Object.fromEntries(Object.entries(cols).map(([n, attnum]) => [n, { attnum, type: 'text' }]));
const read = (base: ColumnIdentities | null, publisher: ColumnIdentities, subscriber: string[]) =>
  readColumnIdentity(base, { publisher, subscriber }, T, 'east');

describe('column identity (model/columnIdentity.ts)', () => {
  const base = ids({ id: 1, a: 2, b: 3, c: 4 });

  it('no baseline: this reading takes the publisher as it is', () => {
    expect(read(null, base, ['id', 'b', 'a', 'c'])).toEqual({ reason: null, next: base });
  });

  it('a subscriber with another column order since the start is no break', () => {
    expect(read(base, base, ['c', 'b', 'a', 'id'])).toEqual({ reason: null, next: base });
  });

  it('two columns swapped: a break naming both', () => {
    const r = read(base, ids({ id: 1, a: 3, b: 2, c: 4 }), ['id', 'a', 'b', 'c']);
    expect(r.reason).toMatch(/^columns a and b of public\.t were swapped on east/);
    expect(r.next).toBe(base);
  });

  it('a rename then a new column with the old name: a break naming where the old column went', () => {
    const r = read(base, ids({ id: 1, a: 2, b: 3, c_old: 4, c: 5 }), ['id', 'a', 'b', 'c']);
    expect(r.reason).toMatch(
      /^column c of public\.t on east is another column now \(the column it named is c_old now/,
    );
  });

  it('a drop then an add under the old name: a break', () => {
    const r = read(base, ids({ id: 1, a: 2, b: 3, c: 5 }), ['id', 'a', 'b', 'c']);
    expect(r.reason).toMatch(/the column it named was dropped; c was added again/);
  });

  it('a plain rename keeps the old name while the subscriber has it, so a later add under it is still a break', () => {
    const renamed = read(base, ids({ id: 1, a: 2, b: 3, d: 4 }), ['id', 'a', 'b', 'c']);
    expect(renamed.reason).toBeNull();
    expect(renamed.next).toEqual(ids({ id: 1, a: 2, b: 3, d: 4, c: 4 }));
    const added = read(renamed.next, ids({ id: 1, a: 2, b: 3, d: 4, c: 5 }), ['id', 'a', 'b', 'c']);
    expect(added.reason).toMatch(
      /column c of public\.t on east is another column now \(the column it named is d now/,
    );
    // once the subscriber has it under the new name (steep's rename step), the old name is let go
    const followed = read(renamed.next, ids({ id: 1, a: 2, b: 3, d: 4 }), ['id', 'a', 'b', 'd']);
    expect(followed).toEqual({ reason: null, next: ids({ id: 1, a: 2, b: 3, d: 4 }) });
    expect(
      read(followed.next, ids({ id: 1, a: 2, b: 3, d: 4, c: 5 }), ['id', 'a', 'b', 'd', 'c']).reason,
    ).toBeNull();
  });

  it('a column the subscriber lacks is added with its type only', () => {
    expect(addMissingSql(T, { publisher: ids({ id: 1, c_old: 4, c: 5 }), subscriber: ['id', 'c'] })).toBe(
      'ALTER TABLE "public"."t" ADD COLUMN "c_old" text',
    );
    expect(addMissingSql(T, { publisher: base, subscriber: Object.keys(base) })).toBeNull();
  });
});

describe('kept values: a column added on each side over the rows it held (model/columnIdentity.ts)', () => {
  const X = '"2026-12-01T09:00:00.5"';
  const Y = '"2026-12-01T09:00:07.25"';
  const before = ids({ id: 1, a: 2 });
  const added = { ...before, c: { attnum: 3, type: 'timestamp with time zone', kept: X } };
  const facts = (subscriberKept?: Record<string, string>) => ({
    publisher: added,
    subscriber: ['id', 'a', 'c'],
    ...(subscriberKept ? { subscriberKept } : {}),
  });

  it('each side its own value (both added by hand with DEFAULT now()): a break naming both values', () => {
    const r = readColumnIdentity(before, facts({ c: Y }), T, 'east');
    expect(r.reason).toBe(
      `column c (${X} on east, ${Y} on the subscriber) of public.t was added on each side with a default evaluated once, ` +
        'so the rows each held then keep another value on each, which no change carries',
    );
    expect(r.next).toBe(before);
  });

  it("the publisher's value on the subscriber too (schema sync's ADD, or the DBA as docs/steep-yaml.md says): no break", () => {
    const r = readColumnIdentity(before, facts({ c: X }), T, 'east');
    expect(r.reason).toBeNull();
    expect(r.next.c).toEqual({ ...added.c, subscriberKept: X });
  });

  it('none kept on one side (added without rows, or rewritten since): no break', () => {
    expect(readColumnIdentity(before, facts(), T, 'east').reason).toBeNull();
  });

  it('a baseline taken with both values (a copy since, or the first reading) knows them: no break, then or later', () => {
    const first = readColumnIdentity(null, facts({ c: Y }), T, 'east');
    expect(first.reason).toBeNull();
    expect(first.next.c).toEqual({ ...added.c, subscriberKept: Y });
    expect(readColumnIdentity(first.next, facts({ c: Y }), T, 'east').reason).toBeNull();
  });

  it('a baseline taken while the subscriber lacked the column: its value added later, apart, is a break', () => {
    const first = readColumnIdentity(before, { publisher: added, subscriber: ['id', 'a'] }, T, 'east');
    expect(first.reason).toBeNull();
    expect(readColumnIdentity(first.next, facts({ c: Y }), T, 'east').reason).toMatch(/^column c \(/);
  });
});

describe('continuity with column identity', () => {
  const member = { publication: 'p', publicationOid: 100, via: 'table' as const, rowOid: 5 };
  const facts = (publisher: ColumnIdentities, subscriber: string[]) => ({
    subscription: 's',
    subscriptionOid: 7,
    from: 'east',
    table: T,
    members: [member],
    publications: { p: 100 },
    columns: { publisher, subscriber },
    now: '2026-11-27T13:00:00.000Z',
  });
  const b: ContinuityBaseline = {
    table: T,
    subscriptionOid: 7,
    members: [member],
    columns: ids({ id: 1, a: 2, b: 3 }),
    since: '2026-11-27T12:00:00.000Z',
    gap: null,
  };

  it('a swap is a gap of kind columns, kept by later readings', () => {
    const c = continuity(b, facts(ids({ id: 1, a: 3, b: 2 }), ['id', 'a', 'b']));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.kind).toBe('columns');
    expect(continuity(c.baseline, facts(ids({ id: 1, a: 3, b: 2 }), ['id', 'a', 'b'])).verdict).toBe('gap');
  });

  it('an old baseline without columns takes them, continuous', () => {
    const c = continuity({ ...b, columns: null }, facts(ids({ id: 1, a: 3, b: 2 }), ['id', 'a', 'b']));
    expect(c).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { columns: ids({ id: 1, a: 3, b: 2 }) },
    });
  });

  it('the way out adds what the copy needs first, then copies every table named', () => {
    expect(
      gapWayOut('s', [
        { table: 'public.z', out: false },
        {
          table: T,
          out: false,
          addFirst: { sql: 'ALTER TABLE "public"."t" ADD COLUMN "c_old" text', node: 'west' },
        },
      ]),
    ).toBe(
      'first run `ALTER TABLE "public"."t" ADD COLUMN "c_old" text` on west (columns the copy needs: NULL until it fills them; ' +
        "steep apply then gives them the publisher's default and NOT NULL), then copy it again: " +
        '`steep reinit s --tables public.t,public.z` (or a steep verify that finds it equal clears the gap)',
    );
  });
});
