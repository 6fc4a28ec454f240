// Write oclif.manifest.json after a build, so the CLI starts without importing every command
// (oclif reads flags and help from the manifest; a command is imported only when it runs).
import { writeFile } from 'node:fs/promises';
import { Plugin } from '@oclif/core';

const root = new URL('..', import.meta.url).pathname;
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest));
