import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What is a process's when steep runs one command in it: the command line typed and the exit
 * code. bin/run.js runs one command in a process of its own; `runInProcess` (main.ts) runs
 * several in one process (the tests, the fault harness), at times side by side, and each keeps
 * its own here. No other file of steep sets `process.exitCode` (test/unit/architecture.test.ts).
 */
const commands = new AsyncLocalStorage<{ argv: string[]; code: number }>();

export function setExitCode(code: number): void {
  const own = commands.getStore();
  if (own) own.code = code;
  else process.exitCode = code;
}

/** The words typed after `steep`, before oclif parsed them. */
export function typedArgs(): string[] {
  return commands.getStore()?.argv ?? process.argv.slice(2);
}

/** Run `fn` as the command `argv`, one of several in this process: the exit code it set, 0 if none. */
export async function asOwnCommand(argv: string[], fn: () => Promise<unknown>): Promise<number> {
  const own = { argv, code: 0 };
  await commands.run(own, fn);
  return own.code;
}
