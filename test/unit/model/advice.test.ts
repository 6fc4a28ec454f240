import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import { ADVICE, type AdviceEntry, adviceText, advise, onlyCopyReason } from '../../../src/model/advice.js';
import {
  at,
  codes,
  observe,
  observedTable,
  publication,
  runPlan,
  subscription,
  topology,
} from '../planner/fixtures.js';

/**
 * The catalog of advice (src/model/advice.ts): what each entry does to data, and that an entry
 * which deletes or overwrites rows is never printed where they may be the only copy. The CLI
 * follows each entry literally in test/cli/advice.test.ts (and verify.test.ts, switchover.test.ts).
 */
const SUBJECT = { subscription: 'west_orders', node: 'west', from: 'east', onlyCopy: null };

describe('the catalog of advice', () => {
  it('knows what each entry writes, whether it destroys, which way it copies, and what gates it', () => {
    expect(ADVICE).toEqual({
      verify: { writes: null, destroys: false, copies: null, gate: null },
      verifyRepair: {
        writes: 'subscriber',
        destroys: true,
        copies: 'publisher to subscriber',
        gate: '--allow-destroy',
      },
      reinitTables: {
        writes: 'subscriber',
        destroys: true,
        copies: 'publisher to subscriber',
        gate: '--auto-approve',
      },
      reinitFull: {
        writes: 'subscriber',
        destroys: true,
        copies: 'publisher to subscriber',
        gate: '--auto-approve',
      },
      reinitFullPastFork: {
        writes: 'subscriber',
        destroys: true,
        copies: 'publisher to subscriber',
        gate: '--discard-past-fork',
      },
      existingDataTruncate: {
        writes: 'subscriber',
        destroys: true,
        copies: 'publisher to subscriber',
        gate: '--allow-hazard truncates-data',
      },
      initCancel: { writes: 'subscriber', destroys: true, copies: null, gate: '--allow-destroy' },
    });
  });

  it('prints each entry as the command or edit it is', () => {
    const t = ['public.a', 'public.b'];
    expect(adviceText('verify', 's', t)).toBe('steep verify s --tables public.a,public.b');
    expect(adviceText('verifyRepair', 's')).toBe('steep verify s --repair');
    expect(adviceText('reinitTables', 's', t)).toBe('steep reinit s --tables public.a,public.b');
    expect(adviceText('reinitFull', 's')).toBe('steep reinit s --full');
    expect(adviceText('reinitFullPastFork', 's')).toBe('steep reinit s --full --discard-past-fork');
    expect(adviceText('existingDataTruncate', 's')).toBe(
      'set init.existingData: truncate (apply empties them and copies again)',
    );
    expect(adviceText('initCancel', 's')).toBe('steep init cancel s');
  });

  it('the subscriber rows may be the only copy when the subscription is disabled (file or node) or another publisher fills the tables; not otherwise', () => {
    const facts = { subscription: 'west_orders', node: 'west', enabled: true, observedEnabled: true };
    expect(onlyCopyReason(facts)).toBeNull();
    expect(onlyCopyReason({ ...facts, observedEnabled: null })).toBeNull();
    expect(onlyCopyReason({ ...facts, enabled: false })).toMatch(
      /west_orders is disabled .*west is the primary/,
    );
    expect(onlyCopyReason({ ...facts, observedEnabled: false })).toMatch(/may be the only copy/);
    expect(onlyCopyReason({ ...facts, otherPublishers: ['north'] })).toMatch(
      /west also receives these tables from north \(origin = none\)/,
    );
  });

  it('withholds every destroying entry where the rows may be the only copy, and says what is true instead; read-only entries stay', () => {
    const only = { ...SUBJECT, onlyCopy: 'subscription west_orders is disabled' };
    for (const entry of Object.keys(ADVICE) as AdviceEntry[]) {
      const safe = advise(entry, SUBJECT, ['public.a']);
      const held = advise(entry, only, ['public.a']);
      expect(safe).toBe(adviceText(entry, 'west_orders', ['public.a']));
      if (ADVICE[entry].destroys) {
        expect(held).not.toContain(adviceText(entry, 'west_orders', ['public.a']));
        expect(held).toBe(
          "subscription west_orders is disabled: steep suggests no repair that replaces west's rows with east's; " +
            'steep verify west_orders --tables public.a counts what differs (read-only), and what west must keep is copied by hand',
        );
      } else expect(held).toBe(safe);
    }
  });
});

describe('the planner prints the catalog', () => {
  function replaced(enabled: boolean) {
    // two_phase cannot be altered before 18: the subscription is dropped and made again over west's rows
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub'], {
          enabled,
          init: { method: 'snapshot', parallel: 4, existingData: 'fail' },
        }),
      ],
    });
    t.subscriptions.west_orders!.options.twoPhase = true;
    const s = observe(t, { version: 170000 });
    const o = at(s, 'west').subscriptions.west_orders!;
    o.options.twoPhase = false;
    o.enabled = enabled;
    at(s, 'west').tables['public.orders'] = observedTable('public.orders', { hasRows: true });
    return runPlan(t, s);
  }

  it("existingData: truncate is advised over a streaming subscription's rows, never over a disabled one's (a switchover's new primary)", () => {
    const streaming = replaced(true);
    expect(codes(streaming.errors)).toContain('existing-data');
    expect(streaming.errors.map((e) => e.message).join('\n')).toContain('set init.existingData: truncate');
    const switched = replaced(false);
    const text = switched.errors.map((e) => e.message).join('\n');
    expect(codes(switched.errors)).toContain('existing-data');
    expect(text).not.toContain('existingData: truncate');
    expect(text).toContain("steep suggests no repair that replaces west's rows with east's");
  });

  it('existingData: truncate is not advised where another publisher fills the same tables', () => {
    const t = topology({
      publications: [
        publication('orders_pub', 'east', { tables: ['public.orders'] }),
        publication('north_pub', 'north', { tables: ['public.orders'] }),
      ],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub']),
        subscription('west_north', 'west', 'north', ['north_pub']),
      ],
    });
    const s = observe(t);
    delete at(s, 'west').subscriptions.west_orders;
    delete at(s, 'east').slots.west_orders;
    at(s, 'west').tables['public.orders'] = observedTable('public.orders', { hasRows: true });
    const p = runPlan(t, s);
    const text = p.errors.map((e) => e.message).join('\n');
    expect(codes(p.errors)).toContain('existing-data');
    expect(text).not.toContain('existingData: truncate');
    expect(text).toContain('west also receives these tables from north (origin = none)');
  });

  it("a link's copy over rows never advises init.existingData (validate refuses it for links)", () => {
    const file = [
      'version: 1',
      'topology: orders-eu',
      'nodes:',
      '  eu: { url: "postgres://steep@db.internal:5432/eu" }',
      '  us: { url: "postgres://steep@db.internal:5432/us" }',
      'links:',
      '  eu_us:',
      '    nodes: [eu, us]',
      '    tables: [public.orders]',
      '    init: { method: snapshot }',
      '',
    ].join('\n');
    const t = parseTopology(file, 'steep.yaml', {}).topology!;
    const s = observe(t);
    for (const n of ['eu', 'us']) {
      at(s, n).publications = {};
      at(s, n).subscriptions = {};
      at(s, n).slots = {};
      at(s, n).tables['public.orders'] = observedTable('public.orders', { hasRows: true });
    }
    const text = runPlan(t, s)
      .errors.map((e) => e.message)
      .join('\n');
    expect(text).toContain('already hold rows');
    expect(text).not.toContain('init.existingData: truncate');
    expect(text).toContain("link eu_us's init takes no existingData");
  });
});
