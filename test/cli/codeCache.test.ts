import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';
import { tempDir } from '../support/tempDir.js';

/*
 * bin/codeCache.js on a made-up dist/: a command file whose `later` function V8 compiles only
 * when it is called. A run that never calls it (as the build's own runs) writes the cache without
 * it; the command's first run that calls it and ends well writes the cache again with it (bigger)
 * and leaves a mark; later runs, and a run that fails, write nothing.
 */

const LATER = Array.from({ length: 200 }, (_, i) => `  s += Math.imul(s ^ ${i}, ${i + 1});`).join('\n');

function setup(): { dist: string; cache: string; command: string } {
  const dist = join(tempDir('steep-code-cache-'), 'dist');
  const commands = join(dist, 'bundle', 'commands');
  mkdirSync(commands, { recursive: true });
  const command = join(commands, 'go.cjs');
  writeFileSync(
    command,
    `exports.now = () => 1;\nexports.later = function later(s) {\n${LATER}\n  return s;\n};\n`,
  );
  return { dist: `${dist}/`, cache: join(dist, '.code-cache/'), command };
}

/**
 * One process: the cache kept for `dist`, the command loaded, `later` called or not, then exit
 * `code`. With `long`, ~40 full collections follow the call (a small heap, objects churned), as
 * in a long run: V8 drops `later`'s bytecode by then.
 */
function run(
  s: ReturnType<typeof setup>,
  opts: { later: boolean; code?: number; warm?: boolean; long?: boolean },
) {
  const script = [
    `require(${JSON.stringify(join(REPO_ROOT, 'bin/codeCache.js'))}).keepCompiledCode(${JSON.stringify(s.dist)}, ${JSON.stringify(s.cache)}, null);`,
    `const m = require(${JSON.stringify(s.command)});`,
    opts.later ? 'm.later(1);' : 'm.now();',
    opts.long
      ? 'let keep = []; for (let i = 0; i < 800; i++) { keep.push(Array.from({ length: 20000 }, (_, j) => ({ j }))); if (keep.length > 8) keep = []; }'
      : '',
    `process.exitCode = ${opts.code ?? 0};`,
  ].join('\n');
  const env = { ...process.env, STEEP_CODE_CACHE_WARM: opts.warm ? '1' : '' };
  const r = spawnSync(process.execPath, ['--max-old-space-size=24', '-e', script], { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(opts.code ?? 0);
}

const files = (cache: string) => (existsSync(cache) ? readdirSync(cache).sort() : []);
const cacheOf = (cache: string) => files(cache).find((f) => f.startsWith('go.cjs-'))!;

describe("V8's compiled code kept between runs (bin/codeCache.js)", () => {
  it('a command adds what its first run compiled to the cache once, when that run ends well', () => {
    const s = setup();
    run(s, { later: false, warm: true });
    const first = cacheOf(s.cache);
    const warm = statSync(join(s.cache, first));
    expect(files(s.cache).filter((f) => f.endsWith('.ran'))).toEqual([]);

    // a failing run writes nothing, nor a long one, whose startup functions V8 may have dropped
    run(s, { later: true, code: 1 });
    run(s, { later: true, long: true });
    expect(statSync(join(s.cache, first)).mtimeMs).toBe(warm.mtimeMs);
    expect(files(s.cache).filter((f) => f.endsWith('.ran'))).toEqual([]);

    // the command's first run that ends well: `later` joins the cache, and a mark is left
    run(s, { later: true });
    const grown = statSync(join(s.cache, first));
    expect(grown.size).toBeGreaterThan(warm.size);
    expect(files(s.cache).filter((f) => f.endsWith('.ran'))).toEqual([`go.cjs-${process.versions.v8}.ran`]);

    // later runs only read it
    run(s, { later: true });
    expect(statSync(join(s.cache, first)).mtimeMs).toBe(grown.mtimeMs);
    expect(files(s.cache).filter((f) => !f.endsWith('.ran'))).toEqual([first]);
  });
});
