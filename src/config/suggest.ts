/**
 * "did you mean": the known word nearest to a misspelt one, by edit distance, ignoring case,
 * `_` and `-` (so `via_partition_root` finds `viaPartitionRoot`).
 */

/**
 * Edit distance (optimal string alignment): insertions, deletions, substitutions and swaps of
 * neighbours. Above `limit` it returns `limit + 1` as soon as that is certain: the lengths differ
 * by more, or two rows in a row exceed it (a cell is at least the smaller of the previous row's
 * least and the one before's least + 1, so no later row can come back under).
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const width = b.length + 1;
  let beforePrevious = new Int32Array(width);
  let previous = new Int32Array(width);
  let current = new Int32Array(width);
  for (let j = 0; j < width; j++) previous[j] = j;
  let previousLeast = 0;
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    let least = i;
    for (let j = 1; j < width; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, beforePrevious[j - 2]! + 1);
      current[j] = d;
      if (d < least) least = d;
    }
    if (least > limit && previousLeast > limit) return limit + 1;
    previousLeast = least;
    [beforePrevious, previous, current] = [previous, current, beforePrevious];
  }
  return Math.min(previous[b.length]!, limit + 1);
}

const FOLDED = new Map<string, string>();

function fold(word: string): string {
  let folded = FOLDED.get(word);
  if (folded === undefined) {
    folded = word.toLowerCase().replace(/[_-]/g, '');
    if (FOLDED.size < 10_000) FOLDED.set(word, folded);
  }
  return folded;
}

/** The most a likely typo is away from the word it means (`nearest` allows less for short words). */
const MOST_ALLOWED = 3;

/** The nearest candidate, when one is close enough to be a likely typo; else undefined. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > 100) return undefined;
  const folded = word.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    // only a candidate nearer than the best so far, and near enough to be allowed, matters
    const distance = editDistance(folded, fold(candidate), Math.min(MOST_ALLOWED, bestDistance - 1));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(
    1,
    Math.min(MOST_ALLOWED, Math.floor(Math.max(folded.length, fold(best).length) / 3)),
  );
  return bestDistance <= allowed ? best : undefined;
}

/** "; did you mean `x`?" or ''. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const found = nearest(word, candidates);
  return found === undefined ? '' : `; did you mean \`${found}\`?`;
}
