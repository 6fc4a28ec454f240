import { mask } from '../db/mask.js';
import { jsonText } from './jsonText.js';

/**
 * `--watch`: refresh every `intervalMs` until SIGINT/SIGTERM, or until `done` says the last refresh
 * showed what was watched for. On a terminal the screen is
 * redrawn in place; otherwise (or with JSON) each refresh is written after the previous one.
 * A refresh gives text, or `{ json }`: a JSON document printed on one line.
 */
export async function watch(
  refresh: () => Promise<string | { json: unknown }>,
  opts: { intervalMs: number; redraw: boolean; done?: () => boolean },
): Promise<void> {
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      const t0 = Date.now();
      const r = await refresh();
      const text = typeof r === 'string' ? mask(r) : jsonText(r.json);
      if (stopped) break;
      process.stdout.write(opts.redraw ? `\x1b[H\x1b[2J${text}\n` : `${text}\n`);
      // what it watched for has happened (`init status`: every init synchronized): nothing left to wait for
      if (opts.done?.()) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.max(0, opts.intervalMs - (Date.now() - t0)));
      });
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}
