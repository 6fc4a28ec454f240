import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

/**
 * What `npm pack` takes and git keeps out: a demo's sandbox data (`examples/…/.steep/`, left
 * there when the demo's ports were taken) is never packed, and the packed tarball is git-ignored.
 */
describe('npm pack and git', () => {
  it('never packs a sandbox left under examples/, and ignores the tarball', () => {
    const dir = join(ROOT, 'examples/quickstart/.steep');
    // a sandbox already there (a demo running) is left as it is: only what this test made goes
    const made = !existsSync(dir);
    const sandbox = join(dir, `pack-test-${process.pid}`);
    mkdirSync(sandbox, { recursive: true });
    writeFileSync(join(sandbox, 'PG_VERSION'), '18\n');
    try {
      const [pack] = JSON.parse(
        execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, npm_config_update_notifier: 'false' },
        }),
      ) as Array<{ files: Array<{ path: string }> }>;
      const paths = pack!.files.map((f) => f.path);
      expect(paths.some((p) => p.startsWith('examples/quickstart/'))).toBe(true);
      expect(paths.filter((p) => p.includes('/.steep/'))).toEqual([]);
    } finally {
      rmSync(made ? dir : sandbox, { recursive: true, force: true });
    }
    const ignored = execFileSync('git', ['check-ignore', '-v', 'steep-0.1.0.tgz'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(ignored).toContain('steep-0.1.0.tgz');
  });
});
