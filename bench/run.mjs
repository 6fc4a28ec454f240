// npm run bench -- NAME: run one benchmark (bench/NAME.mjs) on its own local nodes.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const name = process.argv[2];
const dir = import.meta.dirname;
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && !['run.mjs', 'common.mjs', 'baseBackup.mjs'].includes(f))
  .map((f) => f.replace(/\.mjs$/, ''));
if (!name || !existsSync(join(dir, `${name}.mjs`))) {
  console.error(`usage: npm run bench -- NAME   (one of: ${available.join(', ')})`);
  process.exit(1);
}
// watch-memory samples the heap after full collections: it needs --expose-gc
if (name === 'watch-memory' && typeof globalThis.gc !== 'function') {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, `${name}.mjs`)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
await import(join(dir, `${name}.mjs`));
