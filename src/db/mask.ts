import { MASK } from '../model/conninfo.js';

/**
 * The one masking function: every path that prints, logs or stores text steep produced
 * (plans, errors, apply_log, JSON events) goes through `mask`.
 *
 * It hides (1) every secret registered from the loaded configuration or environment,
 * wherever it appears, and (2) anything that looks like a password in a URL
 * (`postgres://user:secret@host`) or a keyword/value connection string (`password=secret`).
 */
const secrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length > 0) secrets.add(secret);
}

/** For tests only. */
export function clearSecrets(): void {
  secrets.clear();
}

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)(@)/gi;
// a value ends at white space or at anything that closes the text around it (a JSON string, a literal)
const KEYWORD_PASSWORD = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"\\]+)/gi;

export function mask(text: string): string {
  let out = text;
  // longest first, so a secret that contains another is masked whole
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    out = out.split(s).join(MASK);
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
