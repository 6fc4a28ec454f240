import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables, startWriter, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The verify window on a live pair under a writer: with `verify.window` set (here the top
 * level's, for every subscription), a subscription never compared (its init not followed by
 * apply, which would have compared it) is `unverified`, not
 * `synchronized`; `steep verify` makes it `synchronized`; once the comparison is older than the
 * window it is `unverified` again, naming the table, and `status --check` and `drift` exit 2;
 * `steep verify --rolling` makes it `synchronized` again. A subscription with `window: off` stays
 * `synchronized`, the waiver shown. The metric gives each table's age since it was found equal.
 *
 * The window is 10 s, not shorter: a `synchronized` read right after a comparison must come within
 * it, and the rolling run's segment holds from its start, so the window bounds how long a
 * comparison and a status may take on a loaded machine (the suite asserts no durations).
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const SUB = 'wsub';
const OFF = 'wsub_off';
const WINDOW = '10s';

interface Status {
  subscriptions: Array<{
    name: string;
    state: string;
    verdict: { verdict: string; reasons: string[] } | null;
    verifyWindow?: { waived: boolean; share: number | null; oldest: string | null; unverified: unknown[] };
  }>;
  check?: { unhealthy: boolean; problems: string[] };
}

describe('verify window', () => {
  it('unverified until compared, synchronized after verify, unverified once the comparison is older than the window, synchronized after a rolling verify', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables = [
      { name: 'w_a', rows: 3000 },
      { name: 'w_b', rows: 500 },
    ];
    await createTables([east, west], tables);
    await fillTables(east, tables);
    const config = writeConfig(
      [
        'version: 1',
        'topology: window',
        nodesYaml([east, west]),
        'settings:',
        `  verify: { window: ${WINDOW} }`,
        'publications:',
        '  wpub_a: { node: east, tables: [public.w_a] }',
        '  wpub_b: { node: east, tables: [public.w_b] }',
        'subscriptions:',
        `  ${SUB}: { node: west, from: east, publications: [wpub_a] }`,
        `  ${OFF}: { node: west, from: east, publications: [wpub_b], verify: { window: off } }`,
        '',
      ].join('\n'),
    );
    const steep = steepWith({ config, env: passwordEnv([east, west]), timeoutMs: 240_000 });
    const status = async () => {
      const r = await steep(['status', '--check', '--json']);
      expect([0, 1, 2], r.stderr).toContain(r.code);
      const doc = JSON.parse(r.stdout) as Status;
      return { code: r.code, doc, sub: (n: string) => doc.subscriptions.find((s) => s.name === n)! };
    };
    const ageOf = async () => {
      const m = await steep(['metrics', '--once']);
      expect(m.code, m.stderr).toBe(0);
      const line = m.stdout
        .split('\n')
        .find((l) => l.startsWith('steep_table_verified_age_seconds{') && l.includes('table="public.w_a"'));
      expect(line, m.stdout).toBeDefined();
      return line!.split(' ').at(-1)!;
    };

    // not followed (--no-wait), so the init's own comparison does not run: never compared
    const applied = await steep(['apply', '--auto-approve', '--no-wait']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const writer = startWriter(east, ['w_a', 'w_b']);
    try {
      // never compared: unverified, never synchronized; the waived one synchronized
      await eventually(async () => (await status()).sub(SUB).state === 'unverified', HANG_MS, 'unverified');
      const never = await status();
      expect(never.code).toBe(2);
      expect(never.sub(SUB).verdict?.reasons[0]).toBe(
        `public.w_a was never compared (verify window ${WINDOW})`,
      );
      expect(never.doc.check?.problems.join('\n')).toMatch(
        /unverified, not synchronized: public\.w_a was never compared/,
      );
      expect(never.sub(SUB).verifyWindow).toMatchObject({ waived: false, oldest: null });
      expect(never.sub(OFF)).toMatchObject({ state: 'synchronized', verifyWindow: { waived: true } });
      expect(await ageOf()).toBe('+Inf');
      const text = await steep(['status']);
      expect(text.stdout).toContain('verify window: off (waived)');
      expect(text.stdout).toMatch(/wsub +west ← east +unverified/);

      // a verify finds it equal: synchronized, every row compared within the window
      const verified = await steep(['verify', SUB]);
      expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
      const fresh = await status();
      expect(fresh.sub(SUB).state, JSON.stringify(fresh.sub(SUB))).toBe('synchronized');
      expect(fresh.sub(SUB).verifyWindow).toMatchObject({ share: 1, unverified: [] });
      expect(fresh.code, fresh.doc.check?.problems.join('\n')).toBe(0);

      // the comparison ages past the window: unverified again, naming the table; check and drift exit 2
      await eventually(async () => (await status()).code === 2, HANG_MS, 'status --check exits 2');
      const old = await status();
      expect(old.sub(SUB).state).toBe('unverified');
      expect(old.doc.check?.problems.join('\n')).toMatch(
        new RegExp(
          `unverified, not synchronized: public\\.w_a was last found equal at \\S+, longer ago than its verify window ${WINDOW}`,
        ),
      );
      expect(old.sub(OFF).state).toBe('synchronized');
      const drift = await steep(['drift']);
      expect(drift.code, `${drift.stdout}\n${drift.stderr}`).toBe(2);
      expect(drift.stdout).toContain('Unverified (a table not found equal within the verify window):');
      expect(drift.stdout).toMatch(/public\.w_a was last found equal at/);
      expect(Number(await ageOf())).toBeGreaterThan(10);

      // a rolling verify compares every segment: synchronized again
      const rolled = await steep(['verify', '--rolling', '--budget', '1min', SUB]);
      expect(rolled.code, `${rolled.stdout}\n${rolled.stderr}`).toBe(0);
      const again = await status();
      expect(again.sub(SUB).state, JSON.stringify(again.sub(SUB))).toBe('synchronized');
      expect(again.code, again.doc.check?.problems.join('\n')).toBe(0);
      const age = Number(await ageOf());
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(Number.POSITIVE_INFINITY);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    await waitCaughtUp(east, OFF);
    expect(await digests(west, ['w_a', 'w_b'])).toEqual(await digests(east, ['w_a', 'w_b']));
  }, 600_000);
});
