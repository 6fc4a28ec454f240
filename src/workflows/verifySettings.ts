/**
 * What a comparison (verify, the rolling verify, merge analyze) takes from the environment: knobs
 * for unusual nodes, and the tests' way to make small tables and short waits behave like big ones.
 */

const REPLAY_TIMEOUT_MS = 60_000;

/**
 * How long a comparison waits for the subscriber to replay past the publisher's position: 60 s,
 * or STEEP_VERIFY_REPLAY_WAIT_MS (a subscriber far behind may need longer; tests, shorter).
 */
export function replayTimeoutMs(): number {
  return positiveEnv('STEEP_VERIFY_REPLAY_WAIT_MS') ?? REPLAY_TIMEOUT_MS;
}

/** Rows per chunk, for verify and merge (STEEP_VERIFY_CHUNK_ROWS); none: the comparison's own. */
export function chunkRowsSetting(): number | undefined {
  return positiveEnv('STEEP_VERIFY_CHUNK_ROWS');
}

/** The variable's value as a whole number above 0; none when unset or anything else. */
function positiveEnv(name: string): number | undefined {
  const n = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
