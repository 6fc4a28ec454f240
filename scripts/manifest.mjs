// Write oclif.manifest.json after a build, so the CLI starts without importing every command
// (oclif reads flags and help from the manifest; a command is imported only when it runs).
import { writeFile } from 'node:fs/promises';
import { Plugin } from '@oclif/core';

const root = new URL('..', import.meta.url).pathname;
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
// the bundle sorts the ids by code unit where oclif uses localeCompare (scripts/bundle.mjs)
const ids = Object.keys(plugin.manifest.commands);
const byLocale = [...ids].sort((a, b) => a.localeCompare(b));
if ([...ids].sort().join() !== byLocale.join())
  throw new Error(
    `command ids that sort differently by code unit than by localeCompare: ${byLocale.join(', ')}`,
  );
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest));
