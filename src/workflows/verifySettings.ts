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
  const n = Number.parseInt(process.env.STEEP_VERIFY_REPLAY_WAIT_MS ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : REPLAY_TIMEOUT_MS;
}

/** Rows per chunk, for verify and merge (STEEP_VERIFY_CHUNK_ROWS); none: the comparison's own. */
export function chunkRowsSetting(): number | undefined {
  const n = Number.parseInt(process.env.STEEP_VERIFY_CHUNK_ROWS ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
