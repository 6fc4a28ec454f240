#!/usr/bin/env node
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { keepCompiledCode } from './codeCache.js';

// steep runs from its bundle, dist/bundle/ (scripts/bundle.mjs): a command loads a few CommonJS
// files, their compiled code kept between runs, instead of ~500 modules compiled at every start.
const root = new URL('..', import.meta.url);
const dist = fileURLToPath(new URL('dist/', root));
keepCompiledCode(dist, fileURLToPath(new URL('dist/.code-cache/', root)));

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
const { execute } = createRequire(import.meta.url)('../dist/bundle/main.cjs');

await execute({ dir: import.meta.url });
