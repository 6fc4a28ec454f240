import { describe, expect, it } from 'vitest';
import { at, BASE, check } from './support.js';

/** `renamedFrom:` (issue 35): an identifier, not the object's own name nor one the file still declares, claimed once. */
function errorsOf(text: string): string[] {
  return check(text).errors.map((e) => `${at(e)} ${e.code}: ${e.message}`);
}

const subscriptionLines = (lines: string) =>
  BASE.replace('    publications: [orders_pub]', `    publications: [orders_pub]\n${lines}`);

describe('renamedFrom', () => {
  it('is read into the topology, with slotDeclared only where slot: is written', () => {
    const t = check(subscriptionLines('    renamedFrom: west_old')).topology!;
    expect(t.subscriptions.west_orders).toMatchObject({ renamedFrom: 'west_old', slot: 'west_orders' });
    expect(t.subscriptions.west_orders!.slotDeclared).toBeUndefined();
    const p = check(BASE.replace('    node: east\n', '    node: east\n    renamedFrom: old_pub\n')).topology!;
    expect(p.publications.orders_pub!.renamedFrom).toBe('old_pub');
  });

  it('naming the object itself, or a name the file still declares, is an error at its position', () => {
    expect(errorsOf(subscriptionLines('    renamedFrom: west_orders'))).toEqual([
      expect.stringMatching(
        /^\d+:\d+ bad-rename: subscription `west_orders`: renamedFrom names the subscription itself; remove renamedFrom$/,
      ),
    ]);
    const twice = `${subscriptionLines('    renamedFrom: west_b')}  west_b:
    node: west
    from: east
    publications: [orders_pub]
    slot: west_b_slot
`;
    expect(errorsOf(twice)).toEqual([
      expect.stringMatching(
        /bad-rename: subscription `west_orders`: renamedFrom `west_b`, but steep.yaml still declares subscription `west_b`; remove one of them$/,
      ),
    ]);
  });
});
