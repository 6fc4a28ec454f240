const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

/**
 * Keep V8's compiled code of the CommonJS files under `dir` (the bundle, the precompiled
 * validator) in `cacheDir`, as v8-compile-cache does: Node.js 20 compiles every file again at
 * every start (the bundle's oclif chunk alone takes ~60 ms), and has no compile cache of its own
 * before 22.1. A file's cache is named after its size, its modification time and V8's version
 * (hashing the content would cost more than it saves), so a rebuilt file or another Node.js never
 * reads a stale one. A file without one gets it written when the process
 * exits, with every function compiled by then (`npm run build` runs a few commands to write them;
 * a read-only install simply runs without).
 */
const WRAPPER = '(function (exports, require, module, __filename, __dirname, __steepImport) { ';

function keepCompiledCode(dir, cacheDir) {
  const written = [];
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    if (!filename.startsWith(dir)) return compile.call(this, content, filename);
    const { size, mtimeMs } = statSync(filename);
    const file = path.join(cacheDir, `${path.basename(filename)}-${size}-${mtimeMs}-${process.versions.v8}`);
    let cachedData;
    try {
      cachedData = readFileSync(file);
    } catch {
      // not cached yet
    }
    const script = new vm.Script(`${WRAPPER}${content}\n})`, { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected) written.push([file, script]);
    const wrapper = script.runInThisContext({ displayErrors: true });
    const require = Module.createRequire(filename);
    // what the bundle calls for `import()` (scripts/bundle.mjs), relative to this file
    const load = (specifier) =>
      import(specifier.startsWith('.') ? new URL(specifier, pathToFileURL(filename)).href : specifier);
    return wrapper.call(this.exports, this.exports, require, this, filename, path.dirname(filename), load);
  };
  process.once('exit', () => {
    for (const [file, script] of written) {
      try {
        mkdirSync(cacheDir, { recursive: true });
        const tmp = `${file}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, file);
      } catch {
        return; // read-only: run without
      }
    }
  });
}

/** Keep the compiled code of steep's own dist/ (the bundle), in dist/.code-cache/: run.js and holder.js. */
function keepDistCode() {
  const dist = path.join(__dirname, '..', 'dist', path.sep);
  keepCompiledCode(dist, path.join(dist, '.code-cache', path.sep));
}

module.exports = { keepDistCode };
