/** Sizes in units of 1024, written as PostgreSQL writes them. */
const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** `1.5 MB`: sizes as the plan, status and progress lines show them. */
export function formatBytes(n: number | null): string {
  if (n === null) return 'unknown';
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${UNITS[i]}`;
}

/**
 * `500MB`, `2 GB`, `1.5TB`, `1024` (bytes): undefined when not a size. The units as PostgreSQL
 * writes them (steep.yaml's schema holds that form), or with `anyCase` in any case (the flags).
 */
export function parseBytes(text: string, anyCase = false): number | undefined {
  const m = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?)\\s*(${UNITS.join('|')})?\\s*$`, anyCase ? 'i' : '').exec(
    text,
  );
  const unit = UNITS.findIndex((u) => u.toLowerCase() === (m?.[2] ?? 'B').toLowerCase());
  return m ? Math.round(Number(m[1]) * 1024 ** unit) : undefined;
}
