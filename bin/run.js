#!/usr/bin/env node
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { execute } from '@oclif/core';

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

await execute({ dir: import.meta.url });
