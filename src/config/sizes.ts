/**
 * Sizes as PostgreSQL writes them (`B`, `kB`, `MB`, `GB`, `TB`, powers of 1024), or a plain
 * number of bytes. The schema holds the form; this turns it into bytes.
 */
const UNIT_BYTES: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?\s*$/;

export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value);
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * (UNIT_BYTES[m[2] ?? 'B'] ?? 1));
  return bytes > 0 ? bytes : undefined;
}
