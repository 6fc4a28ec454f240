import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_OUTPUTS, buildStamp, isBuilt, STAMP } from '../../../scripts/build-stamp.mjs';

/**
 * npm test's pretest builds only when dist/ was not built from the tree as it is
 * (scripts/build-stamp.mjs): a test run of a built tree must write nothing a running steep reads.
 */

let root = '';
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** A tree with sources and every output, stamped as the build's last step stamps it. */
function builtTree(): void {
  root = mkdtempSync(join(tmpdir(), 'steep-stamp-'));
  put('src/cli/main.ts', 'export const a = 1;\n');
  put('schemas/steep.schema.json', '{}\n');
  put('package.json', '{"name":"steep"}\n');
  for (const f of BUILD_OUTPUTS) put(f, '// built\n');
  put(STAMP, `${buildStamp(root)}\n`);
}

function mtimes(): Record<string, number> {
  return Object.fromEntries(
    readdirSync(root, { recursive: true }).map((f) => [String(f), statSync(join(root, String(f))).mtimeMs]),
  );
}

describe('the build stamp', () => {
  it('a tree built from its sources as they are is built, and checking it writes nothing', () => {
    builtTree();
    const before = mtimes();
    expect(isBuilt(root)).toBe(true);
    expect(mtimes()).toEqual(before);
  });

  it('a changed source, a new source or a changed schema makes it unbuilt', () => {
    builtTree();
    put('src/cli/main.ts', 'export const a = 2;\n');
    expect(isBuilt(root)).toBe(false);
    builtTree();
    put('src/cli/other.ts', 'export const b = 1;\n');
    expect(isBuilt(root)).toBe(false);
    builtTree();
    put('schemas/steep.schema.json', '{"type":"object"}\n');
    expect(isBuilt(root)).toBe(false);
  });

  it('a missing output or a missing stamp makes it unbuilt', () => {
    for (const f of [...BUILD_OUTPUTS, STAMP]) {
      builtTree();
      rmSync(join(root, f));
      expect(isBuilt(root), f).toBe(false);
    }
  });

  it('what dist/ holds besides is not an input: it keeps it built', () => {
    builtTree();
    put('dist/cli/main.js', '// tsc output');
    expect(isBuilt(root)).toBe(true);
  });
});
