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

// V8 (Node 20) optimises a function once it has run ~66 KB of bytecode (--interrupt-budget) three
// times; a command like plan runs most of its code a few hundred times and exits, and TurboFan's
// compiles of it cost more CPU than they save (the plan bench: 784 -> 673 ms of CPU). Four times
// that budget: code that stays hot, a copy's or a long parse's, is still optimised, a little
// later (validate of 50k keys unchanged). Set once the bundle's first files are loaded: setting a
// flag changes V8's flag hash, and built-in modules loaded after it compile without node's
// embedded code cache. Node 22+ tiers up through Maglev first, and its compile cache is keyed by
// that hash: left as it is there.
if (process.versions.node.startsWith('20.'))
  require('node:v8').setFlagsFromString('--interrupt-budget=270336');

// oclif finds the package root (package.json) from the directory it is given
execute({ dir: path.join(__dirname, '..') });
