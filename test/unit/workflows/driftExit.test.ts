import { describe, expect, it } from 'vitest';
import type { DriftReport } from '../../../src/model/driftReport.js';
import { driftExitCode } from '../../../src/workflows/drift.js';

const report = (drifted: boolean, codes: string[]): DriftReport =>
  ({ drifted, errors: codes.map((code) => ({ code, message: code })) }) as unknown as DriftReport;

describe('drift exit code', () => {
  it.each([
    [false, [], 0],
    [true, [], 2],
    // after a switchover without enabled: false: the drift is proven, the plan refuses its repair
    [true, ['existing-data'], 2],
    [false, ['existing-data'], 1],
    // something not read: the drift is not known
    [true, ['preflight.unreachable'], 1],
    [true, ['existing-data', 'drift.fingerprints'], 1],
  ])('drifted %s, errors %j: exit %i', (drifted, codes, code) => {
    expect(driftExitCode(report(drifted, codes))).toBe(code);
  });
});
