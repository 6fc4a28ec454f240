import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The example alert rules, proven with Prometheus' own rule engine: `promtool test rules` runs
 * each rule file's `*.test.yml` beside it (series that must fire an alert exactly once with its
 * labels and annotations, series that must not), and every alert of every rule file has both
 * kinds of case there. No database: promtool evaluates the rules over the series it is given.
 */

const HAS_PROMTOOL = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;
const DIR = join(import.meta.dirname, '../../examples/prometheus');

interface RuleFile {
  groups: Array<{ rules: Array<{ alert?: string }> }>;
}
interface RuleTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

const ruleFiles = readdirSync(DIR).filter((f) => f.endsWith('.yml') && !f.endsWith('.test.yml'));
const testFileOf = (ruleFile: string) => ruleFile.replace(/\.yml$/, '.test.yml');

// CI installs promtool (.ci/run): there the test runs, and fails if it is missing
describe.runIf(HAS_PROMTOOL || process.env.CI)('example alert rules (promtool test rules)', () => {
  it('examples/prometheus holds alert rules', () => {
    expect(ruleFiles).toContain('steep-alerts.yml');
  });

  it.each(ruleFiles)('%s: promtool test rules passes its test file', (ruleFile) => {
    const r = spawnSync('promtool', ['test', 'rules', testFileOf(ruleFile)], { cwd: DIR, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it.each(ruleFiles)('%s: every alert has a case that fires it and one that must not', (ruleFile) => {
    const rules = parse(readFileSync(join(DIR, ruleFile), 'utf8')) as RuleFile;
    const tests = parse(readFileSync(join(DIR, testFileOf(ruleFile)), 'utf8')) as RuleTests;
    expect(tests.rule_files).toEqual([ruleFile]);
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    expect(alerts.length).toBeGreaterThan(0);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const uncovered = alerts.flatMap((alert) => {
      const mine = cases.filter((c) => c.alertname === alert);
      const missing = [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : ['a case that fires it']),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : ['a case that must not']),
      ];
      return missing.length > 0 ? [`${alert} lacks ${missing.join(' and ')}`] : [];
    });
    expect(uncovered).toEqual([]);
    // a case about an alert the file does not hold would pass vacuously
    expect(cases.map((c) => c.alertname).filter((a) => !alerts.includes(a))).toEqual([]);
  });
});
