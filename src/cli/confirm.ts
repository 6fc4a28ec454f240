import { createInterface } from 'node:readline/promises';
import { SteepError } from '../model/errors.js';

/**
 * The one confirmation of a command that changes or destroys (apply, init cancel): with
 * `--auto-approve` (STEEP_AUTO_APPROVE) it goes ahead; on a terminal it asks; with stdin piped
 * (`echo yes | steep apply`) the first line piped is the answer. Anything but `yes` (or the
 * words of `answer`, in any order) cancels (`cancelled`); no answer at all (stdin closed or
 * empty, as in CI) refuses (`noTerminal`).
 * Ctrl-C at the prompt is the signal it is.
 */
export async function confirm(opts: {
  question: string;
  autoApprove?: boolean;
  /** the words to type instead of `yes` (the hazards it allows) */
  answer?: readonly string[];
  /** the code and sentence of the refusal without an answer (it names --auto-approve) */
  noTerminal: { code: string; message: string };
  /** the code and sentence when the answer is not yes */
  cancelled: { code: string; message: string };
}): Promise<void> {
  if (opts.autoApprove) return;
  const words = opts.answer ?? ['yes'];
  const question = `${opts.question} Only '${words.join(' ')}' is accepted: `;
  const answer = process.stdin.isTTY ? await ask(question) : await pipedAnswer(question);
  if (answer === undefined) throw new SteepError(opts.noTerminal.code, opts.noTerminal.message);
  const typed = answer.split(/[\s,]+/).filter((w) => w !== '');
  if (typed.length !== words.length || !words.every((w) => typed.includes(w)))
    throw new SteepError(opts.cancelled.code, opts.cancelled.message);
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

/**
 * What was piped and not yet taken as an answer, and whether stdin has ended: per stdin, as a
 * command run in-process (cli/main.ts `runInProcess`) is given a stdin of its own.
 */
const pipes = new WeakMap<NodeJS.ReadableStream, { text: string; ended: boolean }>();

/**
 * The next line piped on stdin, undefined when stdin ends without one. It reads no further than
 * the line (`yes | steep apply` never ends) and echoes the answer after the question on stderr.
 */
async function pipedAnswer(question: string): Promise<string | undefined> {
  const piped = pipes.get(process.stdin) ?? { text: '', ended: false };
  pipes.set(process.stdin, piped);
  process.stderr.write(question);
  while (!piped.text.includes('\n') && !piped.ended) {
    const chunk = await nextChunk();
    if (chunk === undefined) piped.ended = true;
    else piped.text += chunk;
  }
  if (piped.text === '' && piped.ended) {
    process.stderr.write('(no answer)\n');
    return undefined;
  }
  const end = piped.text.indexOf('\n');
  const line = (end < 0 ? piped.text : piped.text.slice(0, end)).replace(/\r$/, '');
  piped.text = end < 0 ? '' : piped.text.slice(end + 1);
  process.stderr.write(`${line}\n`);
  return line;
}

/** One chunk of stdin (undefined at its end); stdin is paused again after it. */
function nextChunk(): Promise<string | undefined> {
  const stdin = process.stdin;
  if (stdin.readableEnded) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onEnd);
      stdin.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer | string) => done(chunk.toString());
    const onEnd = () => done(undefined);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onEnd);
    stdin.resume();
  });
}
