#!/usr/bin/env node
// CommonJS (bin/package.json): an ES module entry would load Node's ES module loader and the
// facades of every built-in module it imports, a cost paid at each start.
const path = require('node:path');

// Node's own compile cache (22.1+; in its temporary directory, or NODE_COMPILE_CACHE): Node 20 has none
require('node:module').enableCompileCache?.();

// before node-postgres loads: see navigator.js
require('./navigator.js');

// oclif checks package.json's `engines` at every start by loading semver; the check is this
if (Number(process.versions.node.split('.')[0]) < 20)
  process.emitWarning(`steep needs Node.js 20 or later; this is Node.js ${process.versions.node}`);
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
// steep ships compiled JavaScript: with NODE_ENV=development or test (vitest sets it, and a child
// inherits it) oclif would otherwise load TypeScript's compiler at every start to look for sources
globalThis.oclif = { ...globalThis.oclif, enableAutoTranspile: false };
// steep runs from its bundle, dist/bundle/ (scripts/bundle.mjs): a command loads a few CommonJS
// files instead of ~500 modules
const { execute } = require('../dist/bundle/main.cjs');

// oclif finds the package root (package.json) from the directory it is given
execute({ dir: path.join(__dirname, '..') });
