/**
 * Durations as PostgreSQL writes them: `5s`, `500ms`, `2min`, `1h`, `1d`, or a plain number of
 * milliseconds. The result is whole milliseconds.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/;

/** PostgreSQL's timeouts are int4 milliseconds. */
export const MAX_DURATION_MS = 2_147_483_647;

/** Milliseconds, or undefined when the value is not a duration or exceeds `max` (MAX_DURATION_MS). */
export function parseDuration(value: unknown, max = MAX_DURATION_MS): number | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) return undefined;
    ms = value;
  } else if (typeof value === 'string') {
    const m = DURATION.exec(value);
    if (!m) return undefined;
    ms = Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1));
  } else {
    return undefined;
  }
  return ms <= max ? ms : undefined;
}

/** 5000 → "5s", 90000 → "90s", 0 → "0": the shortest exact form, for messages. */
export function formatDuration(ms: number): string {
  const [unit, size] = Object.entries(UNIT_MS)
    .reverse()
    .find(([, n]) => ms % n === 0) ?? ['ms', 1];
  return ms === 0 ? '0' : `${ms / size}${unit}`;
}

/** 42 → "42 s", 62 → "1 min 2 s", 7500 → "2 h 5 min": an estimate's length, as the plan says it. */
export function roughDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
