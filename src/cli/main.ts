/**
 * The bundle's entry point (scripts/bundle.mjs): bin/run.js starts oclif from here, and oclif
 * takes steep's hooks from here too (package.json `oclif.hooks`), already loaded at start.
 */
export { execute } from '@oclif/core/execute';
export { default as commandNotFound } from './commandNotFound.js';
export { default as initHook } from './initHook.js';
