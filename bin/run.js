#!/usr/bin/env node
// CommonJS (bin/package.json): an ES module entry would load Node's ES module loader and the
// facades of every built-in module it imports (~8 ms of each start).
const path = require('node:path');
const { keepCompiledCode } = require('./codeCache.js');

// steep runs from its bundle, dist/bundle/ (scripts/bundle.mjs): a command loads a few CommonJS
// files, their compiled code kept between runs, instead of ~500 modules compiled at every start.
const root = path.join(__dirname, '..');
keepCompiledCode(path.join(root, 'dist', path.sep), path.join(root, 'dist', '.code-cache', path.sep));

// node-postgres tells Cloudflare Workers from Node by `navigator.userAgent`, or else by building
// a fetch `Response`, which loads all of Node's fetch (undici: ~40 ms of a 150 ms start). Node 21+
// defines `navigator`; on Node 20 give it the same, so pg reads that instead.
if (globalThis.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}

// oclif checks package.json's `engines` at every start by loading semver (~10 ms); the check is this
if (Number(process.versions.node.split('.')[0]) < 20)
  process.emitWarning(`steep needs Node.js 20 or later; this is Node.js ${process.versions.node}`);
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { execute } = require('../dist/bundle/main.cjs');

// oclif finds the package root (package.json) from the directory it is given
execute({ dir: root });
