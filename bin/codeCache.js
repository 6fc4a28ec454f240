const { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const v8 = require('node:v8');
const vm = require('node:vm');

/**
 * Keep V8's compiled code of the CommonJS files under `dir` (the bundle, the precompiled
 * validator) in `cacheDir`, as v8-compile-cache does: Node.js 20 compiles every file again at
 * every start (the bundle's oclif chunk alone is a large part of a start), and has no compile cache of its own
 * before 22.1. A file's cache is named after its size, its modification time and V8's version
 * (hashing the content would cost more than it saves), so a rebuilt file or another Node.js never
 * reads a stale one. A file without one gets it written when the process exits, with every
 * function compiled by then (`npm run build` runs a few commands to write them; a read-only
 * install simply runs without).
 *
 * A function V8 compiles only when first called is in a file's cache only if the run that wrote
 * it called it: the build's commands never connect, so node-postgres's sessions, queries and
 * COPY were compiled again at every start of a command that connects (`snapshot generate` of
 * empty tables is measurably faster with them cached). So the first run of each command
 * (`entry`) that ends well writes the cache of every file it loaded again, with what it compiled
 * added, and leaves a mark; later runs only read. Writing them all costs little, once a command.
 *
 * V8 drops the bytecode of a function not run for 5 full collections (`--bytecode-old-age`): a
 * long run ends without startup's functions, and its cache would lack them for good (a long
 * `snapshot apply` wrote a much smaller cache of oclif's chunk than the build's, and every
 * command's start was slower after it). So a run with that many full collections leaves no mark; only a
 * file that has no cache yet gets one from it. (Turning the flushing off costs more: a V8 flag
 * set at run time makes Node's own code cache unusable, and worker threads' start then takes
 * clearly more CPU.)
 */
const BYTECODE_OLD_AGE = 5;
const WRAPPER = '(function (exports, require, module, __filename, __dirname, __steepImport) { ';

function keepCompiledCode(dir, cacheDir, entry) {
  /** [cache file, vm.Script] of each file loaded, and of those whose cache is missing or stale */
  const loaded = [];
  const written = [];
  const commands = path.join(dir, 'bundle', 'commands', path.sep);
  let command = entry;
  const collections = new v8.GCProfiler();
  collections.start();
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    if (!filename.startsWith(dir)) return compile.call(this, content, filename);
    if (filename.startsWith(commands))
      command ??= path.relative(commands, filename).replaceAll(path.sep, '.');
    const { size, mtimeMs } = statSync(filename);
    const file = path.join(cacheDir, `${path.basename(filename)}-${size}-${mtimeMs}-${process.versions.v8}`);
    let cachedData;
    try {
      cachedData = readFileSync(file);
    } catch {
      // not cached yet
    }
    const script = new vm.Script(`${WRAPPER}${content}\n})`, { filename, cachedData });
    loaded.push([file, script]);
    if (cachedData === undefined || script.cachedDataRejected) written.push([file, script]);
    const wrapper = script.runInThisContext({ displayErrors: true });
    const require = Module.createRequire(filename);
    // what the bundle calls for `import()` (scripts/bundle.mjs), relative to this file
    const load = (specifier) =>
      import(specifier.startsWith('.') ? new URL(specifier, pathToFileURL(filename)).href : specifier);
    return wrapper.call(this.exports, this.exports, require, this, filename, path.dirname(filename), load);
  };
  process.once('exit', (code) => {
    const full = collections.stop().statistics.filter((c) => c.gcType === 'MarkSweepCompact').length;
    // the build's own runs (scripts/bundle.mjs warm) leave no mark: they connect nowhere
    const mark =
      command && code === 0 && !process.env.STEEP_CODE_CACHE_WARM && full < BYTECODE_OLD_AGE
        ? path.join(cacheDir, `${command}-${process.versions.v8}.ran`)
        : null;
    const first = mark !== null && !existsSync(mark);
    try {
      mkdirSync(cacheDir, { recursive: true });
      for (const [file, script] of first ? loaded : written) {
        const tmp = `${file}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, file);
      }
      if (first) writeFileSync(mark, '');
    } catch {
      // read-only: run without
    }
  });
}

/**
 * Keep the compiled code of steep's own dist/ (the bundle), in dist/.code-cache/: run.js (its
 * entry is the command's file it loads) and holder.js (`entry` 'holder').
 */
function keepDistCode(entry = null) {
  const dist = path.join(__dirname, '..', 'dist', path.sep);
  keepCompiledCode(dist, path.join(dist, '.code-cache', path.sep), entry);
}

module.exports = { keepCompiledCode, keepDistCode };
