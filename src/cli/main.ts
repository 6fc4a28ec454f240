/**
 * The bundle's entry point (scripts/bundle.mjs): bin/run.js starts oclif from here, and oclif
 * takes steep's hooks from here too (package.json `oclif.hooks`), already loaded at start.
 */
export { execute } from '@oclif/core/execute';
// the bundle's one secret registry, which the commands mask with: tests that run commands in one
// process forget a case's secrets through this, as a new process would (test/cli/fuzzCli.test.ts)
export { clearSecrets } from '../db/mask.js';
export { default as commandNotFound } from './commandNotFound.js';
export { default as initHook } from './initHook.js';
