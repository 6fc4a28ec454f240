import { describe, expect, it } from 'vitest';
import { type ContinuityFacts, continuity, type Membership } from '../../../src/model/continuity.js';
import type { TableContents } from '../../../src/model/treeContents.js';

const NOW = '2026-12-02T03:00:00.000Z';
const member = (via: Membership['via']): Membership => ({
  publication: 'ev_root',
  publicationOid: 100,
  via,
  rowOid: via === 'all' ? null : 5,
});
const facts = (
  contents: TableContents,
  p: { via?: Membership['via']; heldBefore?: Record<string, boolean | null> } = {},
): ContinuityFacts => ({
  subscription: 'ev_part',
  subscriptionOid: 7,
  from: 'east',
  table: 'ev.m',
  members: [member(p.via ?? 'table')],
  publications: { ev_root: 100 },
  contents,
  ...(p.heldBefore ? { heldBefore: p.heldBefore } : {}),
  now: NOW,
});
const leaf = (name: string, row: string) => ({ name, row });
const tree = (leaves: Record<string, { name: string; row: string }>, ns = '900/0'): TableContents => ({
  ns,
  leaves,
});

describe('what a published table holds (model/treeContents.ts)', () => {
  const first = continuity(null, facts(tree({ 11: leaf('ev.m_1', '800/3') })));
  const b = first.baseline;

  it('the first reading keeps the row versions of the tree and of the namespace row', () => {
    expect(b.contents).toEqual({ ns: '900/0', leaves: { 11: '800/3' } });
    expect(continuity(b, facts(tree({ 11: leaf('ev.m_1', '800/3') })))).toEqual({
      verdict: 'continuous',
      baseline: b,
      changed: false,
    });
  });

  it('a partition that joined with no rows from before is taken into the baseline', () => {
    const c = continuity(
      b,
      facts(tree({ 11: leaf('ev.m_1', '800/3'), 12: leaf('ev.m_2', '950/1') }), {
        heldBefore: { 'ev.m_2': false },
      }),
    );
    expect(c).toMatchObject({ verdict: 'continuous', changed: true });
    expect(c.baseline.contents).toEqual({ ns: '900/0', leaves: { 11: '800/3', 12: '950/1' } });
  });

  it('one that joined holding rows from before, or unread, is a gap of kind contents', () => {
    const now = tree({ 11: leaf('ev.m_1', '800/3'), 12: leaf('ev.m_2', '950/1') });
    const held = continuity(b, facts(now, { heldBefore: { 'ev.m_2': true } }));
    expect(held.verdict).toBe('gap');
    expect(held.baseline.gap).toEqual({
      since: NOW,
      kind: 'contents',
      reason:
        'ev.m_2 joined the partition tree of ev.m on east (ATTACH PARTITION) holding rows written before: PostgreSQL never sends them, so the subscriber lacks them',
    });
    expect(continuity(b, facts(now, { heldBefore: { 'ev.m_2': null } })).baseline.gap?.reason).toMatch(
      /could not read whether it held rows then/,
    );
    expect(continuity(b, facts(now)).verdict).toBe('gap');
  });

  it('one attached again (another pg_inherits row) is judged as new', () => {
    const again = tree({ 11: leaf('ev.m_1', '990/2') });
    expect(continuity(b, facts(again, { heldBefore: { 'ev.m_1': true } })).verdict).toBe('gap');
    expect(continuity(b, facts(again, { heldBefore: { 'ev.m_1': false } })).verdict).toBe('continuous');
  });

  it('one that left the tree (detached or dropped) is a gap: the subscriber keeps its rows', () => {
    const c = continuity(b, facts(tree({})));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toBe(
      "a table under ev.m on east (oid 11) left its partition tree since steep's baseline (detached or dropped): the subscriber keeps the rows it held, which ev.m on east no longer has",
    );
  });

  it('out of its schema and back is a gap only through a schema membership', () => {
    const schema = continuity(null, facts(tree({ 11: leaf('ev.m_1', '800/3') }), { via: 'schema' })).baseline;
    const moved = tree({ 11: leaf('ev.m_1', '800/3') }, '990/0');
    const c = continuity(schema, facts(moved, { via: 'schema' }));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toBe(
      "ev.m on east left its schema and came back (ALTER TABLE … SET SCHEMA) since steep's baseline: ev_root publishes it through its schema, so changes made while it was in another were never sent",
    );
    // published by name, it is sent wherever it sits: a new namespace row is only recorded
    expect(continuity(b, facts(moved))).toMatchObject({ verdict: 'continuous', changed: true });
  });

  it('a baseline from before contents were kept judges nothing and records them', () => {
    const old = { ...b, contents: null };
    const c = continuity(old, facts(tree({})));
    expect(c).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { contents: { ns: '900/0', leaves: {} } },
    });
  });
});
