// `node scripts/build-stamp.mjs write` (the build's last step) records in dist/.build-stamp a hash of
// what the build reads; `node scripts/build-stamp.mjs check` (npm test's pretest) exits 0 when dist/
// was built from the tree as it is, 1 otherwise. The build rewrites dist/bundle/, dist/config/ and
// oclif.manifest.json in place: a steep started from this tree while it runs can find a file
// missing. `pretest` builds only when the check fails, so a test run of a tree already built
// (`npm ci` builds it) writes nothing a running steep reads.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the build reads, relative to the package root: folders are read whole. */
export const BUILD_INPUTS = [
  'src',
  'scripts',
  'bin',
  'schemas',
  'examples/quickstart/steep.yaml',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
];
/** What a steep started from the tree loads: missing, the tree is not built. */
export const BUILD_OUTPUTS = [
  'dist/bundle/main.cjs',
  'dist/bundle/holder.cjs',
  'dist/config/steepSchema.validator.cjs',
  'oclif.manifest.json',
];
export const STAMP = 'dist/.build-stamp';

function files(root, path) {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true })
    .map((f) => join(path, String(f)))
    .filter((f) => statSync(join(root, f)).isFile());
}

/** A hash of the build's inputs' paths and contents under `root`. */
export function buildStamp(root) {
  const hash = createHash('sha256');
  const all = BUILD_INPUTS.flatMap((p) => files(root, p)).sort();
  for (const f of all) {
    hash.update(`${relative(root, join(root, f))}\0`);
    hash.update(readFileSync(join(root, f)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Whether dist/ under `root` was built from its inputs as they are (reads only). */
export function isBuilt(root) {
  if (!BUILD_OUTPUTS.every((f) => existsSync(join(root, f)))) return false;
  const stamp = join(root, STAMP);
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === buildStamp(root);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const action = process.argv[2];
  if (action === 'write') {
    writeFileSync(join(root, STAMP), `${buildStamp(root)}\n`);
  } else if (action === 'check') {
    if (isBuilt(root)) {
      console.error('dist/ is built from this tree (dist/.build-stamp): no build');
    } else {
      console.error('dist/ is not built from this tree as it is: building');
      process.exitCode = 1;
    }
  } else {
    console.error('usage: node scripts/build-stamp.mjs write|check');
    process.exitCode = 2;
  }
}
