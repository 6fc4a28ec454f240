import { Command } from '@oclif/core';
import chalk from 'chalk';
import { mask } from '../db/mask.js';
import { formatProblem, SteepError } from '../model/errors.js';

/**
 * Every steep command: errors become one masked sentence on stderr and exit 1
 * (the stack only with STEEP_DEBUG=1); results go to stdout through `out`.
 */
export abstract class SteepCommand extends Command {
  protected colorEnabled(flags: { 'no-color'?: boolean }): boolean {
    const enabled = !flags['no-color'] && !process.env.NO_COLOR && process.stdout.isTTY === true;
    chalk.level = enabled ? chalk.level || 1 : 0;
    return enabled;
  }

  /** Write lines to stdout, masked. */
  protected out(...lines: string[]): void {
    process.stdout.write(`${mask(lines.join('\n'))}\n`);
  }

  /** Write to stderr, masked. */
  protected err(text: string): void {
    process.stderr.write(`${mask(text)}\n`);
  }

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<unknown> {
    // oclif's own flag/argument parse errors and this.exit() carry an exit code
    if (error.oclif?.exit !== undefined && !(error instanceof SteepError)) {
      if (error.oclif.exit === 0) return;
      if (error.message && !/^EEXIT/.test(error.message)) this.err(`error: ${error.message.split('\n')[0]}`);
      // oclif exits 2 on a bad flag or argument; steep keeps 2 for "changes or drift found"
      process.exitCode = error.oclif.exit === 2 ? 1 : error.oclif.exit;
      return;
    }
    if (error instanceof SteepError) {
      for (const p of error.problems) this.err(formatProblem(p));
      if (error.problems.length === 0) {
        const where = error.position
          ? `${error.position.file}:${error.position.line}:${error.position.column}: `
          : '';
        this.err(`error: ${where}${error.message}${error.hint ? ` (${error.hint})` : ''}`);
      }
    } else {
      this.err(`error: ${error.message}`);
    }
    if (process.env.STEEP_DEBUG === '1' && error.stack) this.err(error.stack);
    process.exitCode = 1;
  }
}
