import { describe, expect, it } from 'vitest';
import { CHECK_NAMES, CHECKS, Found } from '../../torture/checks.js';
import { coverage, gaps } from '../../torture/coverage.js';
import { judgeReadinessVerify, refusedKeepingFirst } from '../../torture/forgiveness.js';
import { BOUNDS } from '../../torture/forgivenessSelfTests.js';
import { oracleFindings } from '../../torture/oracle.js';
import { CHECK_SELF_TESTS, FakeWorld, passes, runCheckSelfTest } from '../../torture/oracleSelfTests.js';
import { SELF_TESTS } from '../../torture/selfTests.js';

/**
 * The fault harness's oracle (torture/oracle.ts), without a server: every check it makes, and
 * every bound of what an operation forgives (torture/forgiveness.ts), both named in
 * torture/checks.ts, has a self-test (torture/oracleSelfTests.ts, torture/forgivenessSelfTests.ts) in which that check alone
 * disagrees, and which fails once that check is removed (`without`), as it would if the check's
 * code were deleted.
 */
describe('the oracle: a self-test per check', () => {
  it('a world that agrees with steep in every way: no disagreement', async () => {
    const w = new FakeWorld();
    expect(await oracleFindings(w, w)).toEqual([]);
  });

  it('each bound of forgiveness, on what steep printed agreeing with the data: no disagreement', () => {
    for (const b of BOUNDS) expect(b.agrees()).toEqual([]);
  });

  it('every check has exactly one self-test, and every self-test names a check', () => {
    for (const name of CHECK_NAMES)
      expect(
        CHECK_SELF_TESTS.filter((t) => t.check === name).map((t) => t.name),
        `check ${name}`,
      ).toHaveLength(1);
    for (const t of [...CHECK_SELF_TESTS, ...SELF_TESTS]) expect(Object.keys(CHECKS)).toContain(t.check);
  });

  it('--coverage lists every check with its self-test; a check without one is a gap', () => {
    const c = coverage();
    expect(c.checks.map((x) => x.name)).toEqual(CHECK_NAMES);
    for (const x of c.checks) expect(x.selfTest, x.name).not.toBeNull();
    expect(gaps(c)).toEqual([]);
    const missing = {
      ...c,
      checks: [...c.checks, { name: c.checks[0]!.name, selfTest: null, realWorld: [] }],
    };
    expect(gaps(missing)).toEqual([`the oracle's check ${c.checks[0]!.name} has no self-test`]);
  });

  it.each(CHECK_SELF_TESTS.map((t) => [t.check, t] as const))(
    '%s: its self-test finds it alone, and fails with it removed',
    async (_, t) => {
      const found = await runCheckSelfTest(t);
      expect(
        found.map((f) => f.check),
        found.map((f) => f.text).join('\n'),
      ).toEqual([t.check]);
      expect(passes(t, found)).toBe(true);
      const without = await runCheckSelfTest(t, [t.check]);
      expect(passes(t, without), `${t.check} removed: ${JSON.stringify(without)}`).toBe(false);
    },
  );
});

describe('a verify refused after readiness was lost', () => {
  const refusal =
    "error: verify cannot compare subscription ts1: its workers on pb are failing (errors rose from 5 to 6 while verify waited for it to replay past the publisher's WAL position 0/23B6798), so it does not replay; steep status says why: run verify again once it is synchronized";
  const keepFirst = `${refusal}; after the failover of pa, steep cannot show that pb holds nothing past its fork, and where its workers do not stream again, the rows pb applied past the fork are writes of the old primary that pa lacks: copy what pb must keep to pa first, then steep reinit ts1 --full --discard-past-fork deletes them`;
  const judged = (printed: string, code = 1) => {
    const found = new Found();
    judgeReadinessVerify(found, {
      command: 'steep verify ts1',
      code,
      printed,
      file: true,
      lostWrites: 3,
      before: 5,
      after: 4,
      rowsOnPb: [],
    });
    return found;
  };

  it('counts nothing and is judged no further only where it names the copy of what pb must keep first', () => {
    expect(refusedKeepingFirst({ code: 1, printed: keepFirst })).toBe(true);
    expect(judged(keepFirst).list).toEqual([]);
    // the bare refusal (no way out that keeps pb's rows) is a verify that does not say they are there
    expect(refusedKeepingFirst({ code: 1, printed: refusal })).toBe(false);
    expect(judged(refusal).list.map((f) => f.check)).toContain('readiness-lost-extra-counted');
  });
});
