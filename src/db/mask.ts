import { AsyncLocalStorage } from 'node:async_hooks';
import { MASK } from '../model/conninfo.js';

/**
 * The one masking function: every path that prints, logs or stores text steep produced
 * (plans, errors, apply_log, JSON events) goes through `mask`.
 *
 * It hides (1) every secret of the run in progress — one command (`inRun`, which SteepCommand
 * runs each command in): its command line's passwords and those of the steep.yaml it loaded —
 * wherever no letter, digit or `_` touches it (inside a longer word it is not that password),
 * and (2) anything that looks like a password in a URL (`postgres://user:secret@host`) or a
 * keyword/value connection string (`password=secret`). Runs do not share secrets: two commands
 * in one process (tests) each mask with their own.
 */
const runs = new AsyncLocalStorage<Set<string>>();
/** Outside a run: the patterns only (never added to). */
const NO_SECRETS: ReadonlySet<string> = new Set();

/** Run `fn` as one run of steep: what it registers masks what it prints, and nothing after it. */
export function inRun<T>(fn: () => T): T {
  return runs.run(new Set(), fn);
}

/** Shorter secrets are not registered (CI systems do the same: GitLab masks no value under 8). */
export const MIN_SECRET_LENGTH = 4;

/**
 * A secret shorter than MIN_SECRET_LENGTH, or without a letter or digit (`1`, `:`, ` `), is not
 * registered: it cannot be told from the line numbers, counts and punctuation around it, and
 * masking it garbles every position and breaks every JSON document printed. Where it is a
 * password in a URL or `password=…`, the patterns below still mask it.
 */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_SECRET_LENGTH && /[\p{L}\p{N}]/u.test(secret))
    runs.getStore()?.add(secret);
}

const WORD_BEFORE = /[\p{L}\p{N}_]$/u;
const WORD_AFTER = /^[\p{L}\p{N}_]/u;

/** `text` with every occurrence of `secret` that no letter, digit or `_` touches masked. */
function maskSecret(text: string, secret: string): string {
  let out = '';
  let done = 0;
  for (let i = text.indexOf(secret); i >= 0; ) {
    const end = i + secret.length;
    // two code units either side: enough for one code point, surrogate pairs included
    if (WORD_BEFORE.test(text.slice(Math.max(0, i - 2), i)) || WORD_AFTER.test(text.slice(end, end + 2))) {
      i = text.indexOf(secret, i + 1);
      continue;
    }
    out += text.slice(done, i) + MASK;
    done = end;
    i = text.indexOf(secret, end);
  }
  return out + text.slice(done);
}

// a scheme is short: unbounded, `[a-z0-9+.-]*` rescans a long run of such characters from every
// word start (quadratic: a long name in an error message took far too long)
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]{0,31}:\/\/[^:/@\s]*:)([^@\s]*)(@)/gi;
// a value ends at white space or at anything that closes the text around it (a JSON string, a literal)
const KEYWORD_PASSWORD = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"\\]+)/gi;

/**
 * Registers with the run every password `texts` write in a URL or as `password=…` (a command line's words):
 * what steep prints back of them is then masked, even where the words were cut in pieces.
 */
export function registerSecretsIn(texts: readonly string[]): void {
  for (const text of texts) {
    for (const m of text.matchAll(URL_PASSWORD)) registerSecret(m[2]);
    for (const m of text.matchAll(KEYWORD_PASSWORD)) registerSecret(m[2]!.replace(/^'(.*)'$/, '$1'));
  }
}

export function mask(text: string): string {
  let out = text;
  // longest first, so a secret that contains another is masked whole
  for (const s of [...(runs.getStore() ?? NO_SECRETS)].sort((a, b) => b.length - a.length)) {
    out = maskSecret(out, s);
  }
  out = out.replace(URL_PASSWORD, (_m, pre: string, pw: string, at: string) =>
    pw === '' ? `${pre}${at}` : `${pre}${MASK}${at}`,
  );
  out = out.replace(KEYWORD_PASSWORD, (_m, pre: string) => `${pre}${MASK}`);
  return out;
}

/** mask() applied to every string inside a JSON-able value. */
export function maskDeep<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_k, v) => (typeof v === 'string' ? mask(v) : v)) as T;
}
