import { describe, expect, it } from 'vitest';
import { constraintHint } from '../../../src/model/merge.js';

describe('a reconcile write refused by a constraint besides the key', () => {
  it('a unique constraint besides the key: names the table, the constraint and what to do', () => {
    const hint = constraintHint('public.accounts', {
      code: '23505',
      constraint: 'accounts_email_key',
      table: 'accounts',
      detail: 'Key (email)=(a@x) already exists.',
    });
    expect(hint).toBe(
      'the unique constraint accounts_email_key of public.accounts, besides its key, refuses a row: the two nodes hold different keys ' +
        'with the same value there (Key (email)=(a@x) already exists.); make those rows agree on both nodes (or drop the constraint while merging), then apply again',
    );
  });

  it('a foreign key of a table to itself: names it and says to make it deferrable', () => {
    const hint = constraintHint('public.nodes', {
      code: '23503',
      constraint: 'nodes_parent_fkey',
      table: 'nodes',
      detail: 'Key (parent)=(7) is not present in table "nodes".',
    });
    expect(hint).toContain('the foreign key nodes_parent_fkey of public.nodes to itself');
    expect(hint).toContain('DEFERRABLE INITIALLY DEFERRED');
  });

  it('a foreign key to another table, or any other failure: no hint (the database message is shown)', () => {
    expect(
      constraintHint('public.orders', {
        code: '23503',
        constraint: 'orders_account_fkey',
        table: 'orders',
        detail: 'Key (account_id)=(7) is not present in table "accounts".',
      }),
    ).toBeNull();
    expect(constraintHint('public.orders', { code: '57014' })).toBeNull();
  });
});
