/**
 * No wait is silent: every wait steep runs says what it waits for, and for how long, at least
 * every SAY_EVERY_MS (a copy's progress line, a catch-up's `apply.step_waiting` event), well inside
 * the 10 s docs/commands.md promises, and at its ceiling gives up with the cause and a way out.
 */
export const SAY_EVERY_MS = 5_000;

/** `12 s of at most 600 s`: how long a wait begun at `startedAt` has lasted, and its ceiling. */
export function waitedText(startedAt: number, now: number, ceilingMs: number): string {
  return `${Math.round((now - startedAt) / 1000)} s of at most ${Math.round(ceilingMs / 1000)} s`;
}
