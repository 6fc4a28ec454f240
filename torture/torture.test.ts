import { appendFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { faultVersions } from '../test/support/cluster.js';
import type { DrawOptions } from './commands.js';
import { NIGHTLY_MAX_OPS, nightlySet, parseShard, shard } from './nightly.js';
import { describeFailure, type SequenceResult, stopAbandoned, torture } from './sequence.js';

/**
 * `npm run torture`: fast-check draws sequences of operations (its commands API), the oracle after
 * each operation, and shrinks a failing one to the shortest that still fails (README.md). The
 * flags of torture/run.mjs arrive as TORTURE_* variables: TORTURE_SEED (fast-check's seed; a
 * random one without), TORTURE_RUNS (sequences, default 5), TORTURE_PATH and TORTURE_REPLAY_PATH
 * (replay one counterexample exactly), TORTURE_SHRINK=0, TORTURE_SHRINK_MINUTES (default 120),
 * TORTURE_OPEN=1, TORTURE_OPS=a,b; STEEP_TEST_PG=16,17,18. TORTURE_NIGHTLY=1 runs the nightly set
 * instead (torture/nightly.ts), or its shard TORTURE_SHARD=I/N: each sequence once, unshrunk, one
 * test each; TORTURE_REPORT=file appends a JSON line per sequence (its seconds and disagreements).
 */
const env = process.env;
const seed = env.TORTURE_SEED ? Number(env.TORTURE_SEED) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed))
  throw new Error(`TORTURE_SEED=${env.TORTURE_SEED}: fast-check's seed is an integer`);
if (env.TORTURE_PATH && !env.TORTURE_SEED)
  throw new Error('--path replays a sequence of one seed: give its --seed too');
const runs = Number(env.TORTURE_RUNS ?? 5);
const shrinkMinutes = Number(env.TORTURE_SHRINK_MINUTES ?? 120);
const draw: DrawOptions = {
  open: env.TORTURE_OPEN === '1',
  names: env.TORTURE_OPS ? env.TORTURE_OPS.split(',').map((n) => n.trim()) : undefined,
  replayPath: env.TORTURE_REPLAY_PATH || undefined,
};
const replaying = Boolean(env.TORTURE_PATH);
// each sequence 2–5 minutes, each shrinking step one more sequence
const ceiling =
  (replaying ? 1 : runs) * 900_000 + (env.TORTURE_SHRINK === '0' ? 0 : shrinkMinutes * 60_000) + 900_000;

const report = (line: object) => {
  if (env.TORTURE_REPORT) appendFileSync(env.TORTURE_REPORT, `${JSON.stringify(line)}\n`);
};
const log = (version: number, seed: number, res: SequenceResult) => {
  console.log(
    `torture ${version} seed ${seed} (init ${res.method}): ${res.disagreements.length === 0 ? 'ok' : 'DISAGREE'}: ${res.ops.join(' → ')}`,
  );
  for (const d of res.disagreements) console.log(`  ${d}`);
};

// a sequence its test's ceiling abandoned: its servers down before the next test
afterEach(async () => {
  const n = await stopAbandoned();
  if (n > 0) console.log(`torture: the servers of ${n} sequence(s) a test's ceiling abandoned stopped`);
});

const nightly = env.TORTURE_NIGHTLY === '1';
const part = env.TORTURE_SHARD ? parseShard(env.TORTURE_SHARD) : { i: 1, n: 1 };

// the nightly set's sequences are tests only when asked for (else 135 skipped ones in every run)
const versions = faultVersions();
describe.runIf(nightly).each(nightly ? versions : [])('nightly set on PostgreSQL %i', (version) => {
  const set = shard(nightlySet(version), part.i, part.n);
  it.each(set.map((s) => [s.index, s.seed, s.ops.join(','), s] as const))(
    'sequence %i, seed %i: %s',
    async (index, seed, ops, s) => {
      const started = Date.now();
      const r = await torture(version, {
        seed,
        runs: 1,
        names: s.ops,
        shrink: false,
        onRun: (res) => log(version, seed, res),
      });
      const seconds = Math.round((Date.now() - started) / 1000);
      const { method, ops: performed, disagreements } = r.last ?? {};
      report({ version, index, seed, ops, method, performed, seconds, disagreements, error: r.error });
      expect(r.failure === null && r.error === null, describeFailure(r)).toBe(true);
    },
    (NIGHTLY_MAX_OPS + 1) * 600_000,
  );
});

describe.skipIf(nightly).each(versions)('torture on PostgreSQL %i', (version) => {
  it(
    `seed ${seed}${replaying ? `, path ${env.TORTURE_PATH}` : `, ${runs} sequence(s)`}`,
    async () => {
      const r = await torture(version, {
        ...draw,
        seed,
        runs,
        path: env.TORTURE_PATH || undefined,
        shrink: env.TORTURE_SHRINK !== '0',
        shrinkMs: shrinkMinutes * 60_000,
        onRun: (res) => log(version, seed, res),
      });
      expect(r.failure === null && r.error === null, describeFailure(r)).toBe(true);
    },
    ceiling,
  );
});
