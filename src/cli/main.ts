/**
 * The bundle's entry point (scripts/bundle.mjs): bin/run.js starts oclif from here, and oclif
 * takes steep's hooks from here too (package.json `oclif.hooks`), already loaded at start.
 */
import { run } from '@oclif/core';
import { execute as oclifExecute } from '@oclif/core/execute';
import { forgetServers } from '../db/connect.js';
import { globalFlagsLast } from './globalArgs.js';
import { asOwnCommand, setExitCode } from './invocation.js';

export { default as commandNotFound } from './commandNotFound.js';
export { default as initHook } from './initHook.js';

/** oclif's `execute`, with global flags written before the command moved after it. */
export function execute(opts: { dir: string }) {
  return oclifExecute({ ...opts, args: globalFlagsLast(process.argv.slice(2)) });
}

/**
 * One command run inside this process, as `bin/run.js ARGV` runs it in a process of its own: the
 * tests and the fault harness run most commands so, without starting Node and loading steep for
 * each (where a process is the point — a signal, a kill, a child that outlives the call — they
 * spawn bin/run.js). Gives the command's exit code; never exits the process, never waits for
 * stdout to drain (oclif's `execute` does both). What it writes goes to process.stdout and
 * process.stderr, which the caller routes per call; the sessions it kept are closed before it
 * returns.
 */
export async function runInProcess(argv: string[], dir: string): Promise<number> {
  try {
    return await asOwnCommand(argv, async () => {
      try {
        await run(globalFlagsLast(argv), dir);
      } catch (err) {
        // what oclif's handle prints before its exit: a hook's or a parse's error (a command's
        // own errors are its `catch`'s, SteepCommand)
        const e = err as Error & { oclif?: { exit?: number }; code?: string };
        if (e.code !== 'EEXIT' && e.message) process.stderr.write(`${e.message}\n`);
        setExitCode(e.oclif?.exit ?? 1);
      }
    });
  } finally {
    await forgetServers();
  }
}
