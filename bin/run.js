#!/usr/bin/env node
import { readdirSync, statSync, unlinkSync } from 'node:fs';

// oclif.manifest.json (written by `npm run build`) lets steep start without importing every
// command. In a working copy where commands were rebuilt without it (`tsc` alone), a manifest
// older than the built commands would hide new ones: drop it, and oclif finds them by itself.
const root = new URL('..', import.meta.url);
const manifest = new URL('oclif.manifest.json', root);
try {
  const dir = new URL('dist/commands/', root);
  const newest = readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.js'))
    .reduce((t, f) => Math.max(t, statSync(new URL(f, dir)).mtimeMs), 0);
  if (newest > statSync(manifest).mtimeMs) unlinkSync(manifest);
} catch {
  // no manifest, or no build: oclif reports what is missing
}

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
const { execute } = await import('@oclif/core');

await execute({ dir: import.meta.url });
