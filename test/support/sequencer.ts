import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest file first, so that the two workers end together: a slow file that starts last runs
 * alone at the end. A clean clone has no vitest cache (which orders by the last run's durations,
 * and otherwise by file size), so the order comes from test/support/durations.json, seconds per
 * file of a full run (refresh it: docs/development.md). A file the cache has timed more recently
 * uses that figure; a file in neither (new) counts as NEW_DB_FILE_S if it starts PostgreSQL
 * (test/cli, test/integration), else as a quick unit file.
 */
const DURATIONS: Record<string, number> = JSON.parse(
  readFileSync(new URL('./durations.json', import.meta.url), 'utf8'),
);
const NEW_DB_FILE_S = 60;

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (spec: TestSpecification): number => {
      const path = relative(root, spec.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${path}`);
      if (cached && cached.duration > 0) return cached.duration / 1000;
      return DURATIONS[path] ?? (/^test\/(cli|integration)\//.test(path) ? NEW_DB_FILE_S : 1);
    };
    const known = new Map(files.map((f) => [f, seconds(f)]));
    return [...files].sort((a, b) => known.get(b)! - known.get(a)!);
  }
}
