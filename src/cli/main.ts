/**
 * The bundle's entry point (scripts/bundle.mjs): bin/run.js starts oclif from here, and oclif
 * takes steep's hooks from here too (package.json `oclif.hooks`), already loaded at start.
 */
import { execute as oclifExecute } from '@oclif/core/execute';
import { globalFlagsLast } from './globalArgs.js';

export { default as commandNotFound } from './commandNotFound.js';
export { default as initHook } from './initHook.js';

/** oclif's `execute`, with global flags written before the command moved after it. */
export function execute(opts: { dir: string }) {
  return oclifExecute({ ...opts, args: globalFlagsLast(process.argv.slice(2)) });
}
