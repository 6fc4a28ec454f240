import { describe, expect, it } from 'vitest';
import { applyPrivileges, privilegeDeniedText } from '../../../src/model/ownerPrivileges.js';

/** What a subscription's workers acting as its owner (runAsOwner true, 16+) need, and the advice. */
describe('owner privileges', () => {
  it('takes SELECT only for the changes that find a row, each change its own privilege', () => {
    expect(applyPrivileges(['insert', 'update', 'delete', 'truncate'])).toEqual([
      'SELECT',
      'INSERT',
      'UPDATE',
      'DELETE',
      'TRUNCATE',
    ]);
    expect(applyPrivileges(['insert'])).toEqual(['INSERT']);
    expect(applyPrivileges(['delete', 'insert'])).toEqual(['SELECT', 'INSERT', 'DELETE']);
    expect(applyPrivileges([])).toEqual([]);
  });

  it('says one GRANT per set of privileges lacked, and the way out through runAsOwner false', () => {
    const text = privilegeDeniedText('admin_sub', 'b', {
      owner: 'regress_admin',
      denied: { 'alice.a': ['SELECT', 'TRUNCATE'], 'alice.b': ['INSERT'], 'alice.c': ['SELECT', 'TRUNCATE'] },
    });
    expect(text).toEqual([
      'role regress_admin, the owner of subscription admin_sub, lacks SELECT, TRUNCATE on alice.a, alice.c, ' +
        'and its workers apply as that owner (runAsOwner true): run GRANT SELECT, TRUNCATE ON alice.a, alice.c TO "regress_admin"; on b, ' +
        "or set runAsOwner: false (its workers then apply as each table's owner, which regress_admin must be able to SET ROLE to)",
      'role regress_admin, the owner of subscription admin_sub, lacks INSERT on alice.b, ' +
        'and its workers apply as that owner (runAsOwner true): run GRANT INSERT ON alice.b TO "regress_admin"; on b, ' +
        "or set runAsOwner: false (its workers then apply as each table's owner, which regress_admin must be able to SET ROLE to)",
    ]);
    expect(privilegeDeniedText('admin_sub', 'b', { owner: '', denied: {} })).toEqual([]);
  });
});
