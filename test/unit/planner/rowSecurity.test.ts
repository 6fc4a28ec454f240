import { describe, expect, it } from 'vitest';
import type { RowSecurity, TableShape } from '../../../src/model/verify.js';
import { readsEveryRow, rowSecurityRefusal } from '../../../src/planner/compare/rowSecurity.js';
import { isComparison, planComparison } from '../../../src/planner/compare/verify.js';

const TABLE = { schema: 'public', name: 'tenant' };

/** steep_runner on a table of tenant_owner with one policy, forced; `over` changes what differs. */
const rls = (over: Partial<RowSecurity> = {}): RowSecurity => ({
  forced: true,
  owner: 'tenant_owner',
  policies: ['tenant_isolation'],
  role: 'steep_runner',
  superuser: false,
  bypassRls: false,
  asOwner: true,
  ...over,
});

const shape = (rowSecurity: RowSecurity | null): TableShape => ({
  table: TABLE,
  columns: ['id', 'v'].map((name) => ({
    name,
    type: 'text',
    collatable: true,
    integer: false,
    generated: false,
  })),
  key: { source: 'primary key', columns: ['id'] },
  estimatedRows: 10,
  partitioned: false,
  rowSecurity,
});

describe('row-level security and a comparison (planner/compare/rowSecurity.ts)', () => {
  it('reads every row only past every policy: superuser, BYPASSRLS, or the owner where not forced', () => {
    const cases: Array<[string, RowSecurity | null, boolean]> = [
      ['no row security', null, true],
      ['forced, the owner', rls(), false],
      ['forced, a superuser', rls({ superuser: true }), true],
      ['forced, BYPASSRLS', rls({ bypassRls: true }), true],
      ['not forced, the owner', rls({ forced: false }), true],
      ['not forced, not the owner', rls({ forced: false, asOwner: false }), false],
      ['not forced, not the owner, BYPASSRLS', rls({ forced: false, asOwner: false, bypassRls: true }), true],
      [
        'no policy (default deny), not the owner',
        rls({ forced: false, asOwner: false, policies: [] }),
        false,
      ],
    ];
    for (const [what, rs, every] of cases) {
      expect(readsEveryRow(rs), what).toBe(every);
      expect(rowSecurityRefusal(TABLE, 'east', rs) === null, what).toBe(every);
    }
  });

  it('names the table, the node, the policies and the grant that lets the role see every row', () => {
    expect(rowSecurityRefusal(TABLE, 'east', rls())).toBe(
      'public.tenant has row-level security forced (on its owner tenant_owner too) on east (policy tenant_isolation): ' +
        'steep_runner reads only the rows a policy lets it see, and a comparison reads every row or none, so it is not compared; ' +
        'give steep_runner BYPASSRLS there (ALTER ROLE "steep_runner" BYPASSRLS; run by a superuser, or from PostgreSQL 16 by a CREATEROLE role that has BYPASSRLS itself)',
    );
    const notOwner = rowSecurityRefusal(
      TABLE,
      'west',
      rls({ forced: false, asOwner: false, policies: ['a', 'b'] }),
    );
    expect(notOwner).toContain('on west (policies a, b)');
    expect(notOwner).toContain('neither its owner tenant_owner nor a role inheriting its privileges');
    expect(notOwner).toMatch(
      /BYPASSRLS itself\), or have steep connect to west as tenant_owner or a role inheriting its privileges$/,
    );
    expect(rowSecurityRefusal(TABLE, 'west', rls({ forced: false, asOwner: false, policies: [] }))).toContain(
      '(no policy, so PostgreSQL shows steep_runner none of its rows)',
    );
  });

  it('refuses the comparison when either side filters, naming that side; compares when both read every row', () => {
    const scope = { table: TABLE, columns: null, filter: null };
    const opts = { keyless: true, publisherNode: 'east' };
    const onPublisher = planComparison(scope, shape(rls()), shape(null), 'west', opts);
    expect(isComparison(onPublisher)).toBe(false);
    expect((onPublisher as { reason: string }).reason).toMatch(
      /^public\.tenant has row-level security forced .* on east /,
    );
    const onSubscriber = planComparison(
      scope,
      shape(null),
      shape(rls({ policies: ['west_reader'] })),
      'west',
      opts,
    );
    expect((onSubscriber as { reason: string }).reason).toMatch(/on west \(policy west_reader\)/);
    expect('notComparable' in onSubscriber).toBe(false);
    const bypassing = planComparison(
      scope,
      shape(rls({ bypassRls: true })),
      shape(rls({ superuser: true })),
      'west',
      opts,
    );
    expect(isComparison(bypassing)).toBe(true);
  });
});
