import { createInterface } from 'node:readline/promises';
import { SteepError } from '../model/errors.js';

/**
 * The one confirmation of a command that changes or destroys (apply, init cancel): with
 * `--auto-approve` (STEEP_AUTO_APPROVE) it goes ahead; without a terminal on stdin and without
 * it, it refuses (`noTerminal`); on a terminal it asks, and anything but `yes` cancels
 * (`cancelled`). Ctrl-C at the prompt is the signal it is.
 */
export async function confirm(opts: {
  question: string;
  autoApprove: boolean;
  /** the code and sentence of the refusal without a terminal (it names --auto-approve) */
  noTerminal: { code: string; message: string };
  /** the code and sentence when the answer is not yes */
  cancelled: { code: string; message: string };
}): Promise<void> {
  if (opts.autoApprove) return;
  if (!process.stdin.isTTY) throw new SteepError(opts.noTerminal.code, opts.noTerminal.message);
  const answer = await ask(`${opts.question} Only 'yes' is accepted: `);
  if (answer.trim() !== 'yes') throw new SteepError(opts.cancelled.code, opts.cancelled.message);
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
