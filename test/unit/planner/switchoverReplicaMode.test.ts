import { describe, expect, it } from 'vitest';
import { unsentMessage } from '../../../src/model/switchover.js';
import { replicaModeProblems } from '../../../src/planner/switchover/replicaModeChecks.js';
import { roleFacts } from './fixtures.js';

const role = roleFacts;

const FACTS = {
  oldNode: 'old',
  steepRole: 'steep',
  roles: [
    role('app'),
    role('batch'),
    role('reporting', { writes: false }),
    role('postgres', { superuser: true }),
    role('steep'),
  ],
};

describe('a writer that may set session_replication_role = replica, which the data fence cannot stop', () => {
  it('refuses each grant a writer holds, directly, through a role it is a member of, or as PUBLIC, with the REVOKE and the GRANT back', () => {
    const problems = replicaModeProblems(
      {
        ...FACTS,
        replicaModeGrants: [
          { grantee: 'Ops', grantable: false, roles: ['app', 'batch'] },
          { grantee: 'batch', grantable: true, roles: ['batch'] },
          { grantee: 'PUBLIC', grantable: false, roles: ['app', 'batch', 'postgres', 'reporting', 'steep'] },
        ],
      },
      ['app', 'batch'],
    );
    expect(problems).toEqual([
      'roles app, batch on old may write the subscribed tables and set session_replication_role = replica ' +
        '(SET on parameter session_replication_role is granted to Ops, of which app, batch are members): ' +
        'a session in replica mode fires no ordinary trigger, so the data fence cannot stop its writes after the fence. ' +
        'Taking the grant back for the switchover is yours to decide: REVOKE SET ON PARAMETER session_replication_role FROM "Ops"; on old, ' +
        'and GRANT SET ON PARAMETER session_replication_role TO "Ops"; there after the release; then run again',
      expect.stringContaining(
        'role batch on old may write the subscribed tables and set session_replication_role = replica (SET on parameter session_replication_role is granted to batch): ',
      ),
      expect.stringContaining(
        '(SET on parameter session_replication_role is granted to PUBLIC): a session in replica mode',
      ),
    ]);
    expect(problems[1]).toContain(
      'REVOKE SET ON PARAMETER session_replication_role FROM "batch"; on old, and GRANT SET ON PARAMETER session_replication_role TO "batch" WITH GRANT OPTION; there after the release',
    );
    // PUBLIC: REVOKE … FROM PUBLIC, never a role called "PUBLIC"; only the writers are named
    expect(problems[2]).toMatch(/^roles app, batch on old /);
    expect(problems[2]).toContain('REVOKE SET ON PARAMETER session_replication_role FROM PUBLIC;');
  });

  it('a writer the role fence leaves alone (--roles) is asked about too: the data fence is what stops it', () => {
    const grants = [{ grantee: 'batch', grantable: false, roles: ['batch'] }];
    expect(replicaModeProblems({ ...FACTS, replicaModeGrants: grants }, ['app'])).toHaveLength(1);
  });

  it('asks nothing of superusers, steep, roles that cannot write, or without the catalog (before 15)', () => {
    const grants = [{ grantee: 'admins', grantable: false, roles: ['postgres', 'reporting', 'steep'] }];
    expect(replicaModeProblems({ ...FACTS, replicaModeGrants: grants }, ['app'])).toEqual([]);
    expect(replicaModeProblems(FACTS, ['app'])).toEqual([]);
  });

  it("the release's text names what lets a local session write past the fence, and the grantees when known", () => {
    const p = {
      subscription: 'new_orders',
      oldNode: 'old',
      newNode: 'new',
      slot: 'new_orders',
      reverse: false,
    };
    const unsent = {
      changes: 3,
      transactions: 2,
      writers: [{ origin: null, subscription: null, tables: ['public.orders'], changes: 3, transactions: 2 }],
    };
    const known = unsentMessage({ ...p, replicaModeGrantees: ['ops', 'PUBLIC'] }, unsent);
    expect(known).toContain(
      '(3 in 2 transaction(s) to public.orders by local sessions (no replication origin; the WAL names no role: ' +
        'a superuser, or a role granted SET on session_replication_role (granted to ops, PUBLIC), with session_replication_role = replica, ' +
        'or someone who removed the fence))',
    );
    for (const grantees of [undefined, []])
      expect(unsentMessage({ ...p, replicaModeGrantees: grantees }, unsent)).toContain(
        'the WAL names no role: a superuser, or a role granted SET on session_replication_role, with session_replication_role = replica, or someone who removed the fence',
      );
  });
});
