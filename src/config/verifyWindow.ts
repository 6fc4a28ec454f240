import { parseBytes } from '../model/bytes.js';
import { parseDuration } from '../model/durations.js';
import type { VerifyWindow } from '../model/topology.js';
import type { NormaliseContext } from './normalise.js';
import { fieldOf, type Path, withOwner } from './paths.js';

/**
 * `verify.window` (settings', or a subscription's own): a duration, or `off`, the explicit
 * waiver. It is no PostgreSQL timeout, so it may exceed int4 milliseconds: a year at most. 0 is
 * refused (every table would be unverified at once): `off` says what it would mean.
 */
export const MAX_VERIFY_WINDOW_MS = 366 * 86_400_000;

/** The window at `path` in milliseconds, `off`, or undefined when absent (or invalid: reported). */
export function readVerifyWindow(ctx: NormaliseContext, path: Path): VerifyWindow | undefined {
  const value = ctx.reader.get(path);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.trim() === 'off') return 'off';
  const ms = parseDuration(value, MAX_VERIFY_WINDOW_MS);
  if (ms !== undefined && ms > 0) return ms;
  ctx.problems.error(
    'invalid-value',
    withOwner(
      path,
      `${fieldOf(path)} must be a duration from 1ms to 366d (7d, 12h, 30min), or off to waive it`,
    ),
    ctx.positions.value(path),
  );
  return undefined;
}

/**
 * `verify.fullBelow` (settings', or a subscription's own): the size from which an init's
 * comparison samples a table instead of reading every row (model/initEvidence.ts); bytes, or a
 * size such as 1GB. Undefined when absent (the schema refuses any other form).
 */
export function readFullBelow(ctx: NormaliseContext, path: Path): number | undefined {
  return ctx.reader.integer(path) ?? parseBytes(ctx.reader.string(path) ?? '');
}
