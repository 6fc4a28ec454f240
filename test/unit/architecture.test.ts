import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';
import { sourceFiles } from '../support/sourceFiles.js';

/**
 * The layers of docs/architecture.md are enforced by `npm run lint` (biome.json: noRestrictedImports per
 * folder). Each case is a file of its folder importing another layer; the repository's own lint
 * configuration runs over them in a scratch directory, and exactly the upward (or sideways)
 * imports are refused.
 */

const CASES: Array<{ file: string; imports: string; refused: boolean }> = [
  { file: 'src/model/a.ts', imports: '../db/mask.js', refused: true },
  { file: 'src/db/a.ts', imports: '../model/errors.js', refused: false },
  { file: 'src/db/b.ts', imports: '../config/load.js', refused: true },
  { file: 'src/planner/a.ts', imports: '../model/plan.js', refused: false },
  { file: 'src/planner/b.ts', imports: '../catalog/readNode.js', refused: true },
  { file: 'src/planner/c.ts', imports: 'pg', refused: true },
  { file: 'src/planner/d.ts', imports: '../db/mask.js', refused: true },
  { file: 'src/catalog/queries/a.ts', imports: '../../db/advisoryLock.js', refused: false },
  { file: 'src/catalog/queries/b.ts', imports: '../../planner/index.js', refused: true },
  { file: 'src/render/a.ts', imports: '../workflows/drift.js', refused: true },
  { file: 'src/render/b.ts', imports: '../planner/schemaCompare.js', refused: true },
  { file: 'src/state/a.ts', imports: '../catalog/queries/initState.js', refused: true },
  { file: 'src/config/a.ts', imports: '../executors/runStep.js', refused: true },
  { file: 'src/executors/a.ts', imports: '../planner/index.js', refused: false },
  { file: 'src/executors/b.ts', imports: '../workflows/apply.js', refused: true },
  { file: 'src/copy/a.ts', imports: '../executors/events.js', refused: false },
  { file: 'src/copy/b.ts', imports: '../workflows/init.js', refused: true },
  { file: 'src/executors/c.ts', imports: '../copy/engine.js', refused: true },
  { file: 'src/sandbox/a.ts', imports: '../config/load.js', refused: false },
  { file: 'src/sandbox/b.ts', imports: '../executors/runStep.js', refused: true },
  { file: 'src/workflows/a.ts', imports: '../executors/runStep.js', refused: false },
  { file: 'src/workflows/b.ts', imports: '../cli/flags.js', refused: true },
  { file: 'src/cli/a.ts', imports: '../workflows/apply.js', refused: false },
  { file: 'src/cli/b.ts', imports: '../commands/plan.js', refused: true },
  { file: 'src/commands/init/a.ts', imports: '../../workflows/init.js', refused: false },
  { file: 'src/commands/a.ts', imports: '../cli/baseCommand.js', refused: false },
  { file: 'src/commands/b.ts', imports: '../db/mask.js', refused: true },
  { file: 'src/commands/c.ts', imports: '../catalog/readNode.js', refused: true },
  { file: 'src/commands/d.ts', imports: '../executors/events.js', refused: true },
  { file: 'src/commands/e.ts', imports: '../state/applyLog.js', refused: true },
  { file: 'src/planner/e.ts', imports: 'node:fs', refused: true },
  { file: 'src/planner/init/f.ts', imports: '../../catalog/readNode.js', refused: true },
  { file: 'src/planner/init/g.ts', imports: '../../model/plan.js', refused: false },
];

describe('layer boundaries (docs/architecture.md)', () => {
  it('npm run lint refuses exactly the imports that go up or sideways', () => {
    const dir = mkdtempSync(join(tmpdir(), 'steep-layers-'));
    try {
      const config = JSON.parse(readFileSync(join(REPO_ROOT, 'biome.json'), 'utf8'));
      delete config.$schema;
      delete config.vcs;
      config.files = { includes: ['src/**'] };
      writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
      for (const c of CASES) {
        mkdirSync(join(dir, dirname(c.file)), { recursive: true });
        writeFileSync(join(dir, c.file), `import * as x from '${c.imports}';\n\nexport const y = x;\n`);
      }
      const r = spawnSync(
        join(REPO_ROOT, 'node_modules/.bin/biome'),
        ['lint', '--max-diagnostics=200', '.'],
        {
          cwd: dir,
          encoding: 'utf8',
        },
      );
      const output = `${r.stdout}${r.stderr}`;
      const refused = new Set(
        [...output.matchAll(/^(src\/\S+\.ts):\d+:\d+ lint\/style\/noRestrictedImports/gm)].map((m) => m[1]),
      );
      expect([...refused].sort(), output).toEqual(
        CASES.filter((c) => c.refused)
          .map((c) => c.file)
          .sort(),
      );
      expect(r.status).not.toBe(0);
      expect(output).toContain('see docs/architecture.md');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** SQL a statement starts with, as it would stand in a string of the code. */
const SQL =
  /['"`]\s*((SELECT|INSERT INTO|UPDATE\s+\S+\s+SET|DELETE FROM|ALTER|CREATE|DROP|TRUNCATE|CREATE_REPLICATION_SLOT)\b|SET\s+\w+\s*=)/;

describe('workflows orchestrate (docs/architecture.md)', () => {
  it('no file under src/workflows holds SQL: reads are in catalog and state, writes come from the planner', () => {
    const dir = join(REPO_ROOT, 'src/workflows');
    const found: string[] = [];
    for (const f of readdirSync(dir)) {
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const comment = /^\s*(\*|\/\/|\/\*)/.test(line);
          if (!comment && SQL.test(line)) found.push(`src/workflows/${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});

/**
 * The file-length rule (issue 14): a file under src/ holds one idea. One over LONG_FILE lines
 * must open with a `/** … *\/` block (its first lines, before the imports) that states that one
 * idea; otherwise it is split by idea.
 */
const LONG_FILE = 400;

/** No file under src/ is longer than this, comment or not (issue 37): past it, split by idea. */
const MAX_FILE = 450;

/** The `/** … *\/` block a file opens with (its first non-blank lines), or null. */
function openingComment(text: string): string | null {
  const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  if (!m) return null;
  const words = m[1]!.replace(/^\s*\*/gm, ' ').trim();
  return words === '' ? null : words;
}

describe('one idea per file', () => {
  it(`no file under src/ is over ${LONG_FILE} lines unless it opens with a comment stating its one idea`, () => {
    const root = join(REPO_ROOT, 'src');
    const long = sourceFiles(root)
      .map((f) => ({ file: f.slice(REPO_ROOT.length + 1), text: readFileSync(f, 'utf8') }))
      .filter((f) => f.text.split('\n').length - 1 > LONG_FILE);
    expect(long.length).toBeGreaterThan(0); // the rule sees files (a wrong root would pass anything)
    const offending = long
      .filter((f) => openingComment(f.text) === null)
      .map((f) => `${f.file}: ${f.text.split('\n').length - 1} lines, no opening /** … */ comment`);
    expect(offending).toEqual([]);
  });

  it(`no file under src/ is over ${MAX_FILE} lines`, () => {
    const over = sourceFiles(join(REPO_ROOT, 'src'))
      .map((f) => ({
        file: f.slice(REPO_ROOT.length + 1),
        lines: readFileSync(f, 'utf8').split('\n').length - 1,
      }))
      .filter((f) => f.lines > MAX_FILE)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(over).toEqual([]);
  });

  it('an opening comment is a /** … */ block before anything else, with words in it', () => {
    expect(openingComment('/**\n * One idea.\n */\nimport x from "y";\n')).toBe('One idea.');
    expect(openingComment('import x from "y";\n/** Later. */\n')).toBeNull();
    expect(openingComment('// a line comment\n')).toBeNull();
    expect(openingComment('/** */\n')).toBeNull();
  });
});

describe('one home for PostgreSQL versions (issue 37)', () => {
  it('no file under src/ but model/versions.ts writes a server_version_num threshold of its own', () => {
    const found: string[] = [];
    for (const f of sourceFiles(join(REPO_ROOT, 'src'))) {
      if (f.endsWith(join('model', 'versions.ts'))) continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const comment = /^\s*(\*|\/\/|\/\*)/.test(line);
          if (!comment && /\b1[1-9]0000\b/.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});

describe('a command runs in a process of its own or beside others in one (issue 78)', () => {
  it('no file under src/ but cli/invocation.ts sets process.exitCode: each command in-process keeps its own', () => {
    const found: string[] = [];
    for (const f of sourceFiles(join(REPO_ROOT, 'src'))) {
      if (f.endsWith(join('cli', 'invocation.ts'))) continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/process\.exitCode\s*=[^=]/.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
