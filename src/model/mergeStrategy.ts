/**
 * How a merge init resolves a conflicting row (same key, different row), docs/steep-yaml.md:
 * `prefer:<node>`, for a one-way subscription also `prefer-source` / `prefer-target`,
 * `last-modified:<column>` (the newer row wins; a tie goes to the link's first node, or the
 * source of a subscription), or `manual` (every conflict to a file, nothing changed).
 */

export type MergeStrategy =
  | { kind: 'prefer'; node: string }
  | { kind: 'last-modified'; column: string; tieNode: string }
  | { kind: 'manual' };

/** The strategy as written, before it is tied to nodes. */
export type StrategyText =
  | { kind: 'prefer-source' }
  | { kind: 'prefer-target' }
  | { kind: 'prefer'; node: string }
  | { kind: 'last-modified'; column: string }
  | { kind: 'manual' };

export const STRATEGY_SYNTAX = 'prefer:<node>, last-modified:<column> or manual';
export const ONE_WAY_STRATEGY_SYNTAX = `prefer-source, prefer-target, ${STRATEGY_SYNTAX}`;

/** undefined when the text is none of the forms. */
export function parseStrategy(text: string): StrategyText | undefined {
  const t = text.trim();
  if (t === 'prefer-source' || t === 'prefer-target' || t === 'manual') return { kind: t };
  const m = /^(prefer|last-modified)\s*:\s*(\S.*)$/.exec(t);
  if (!m) return undefined;
  const value = m[2]!.trim();
  return m[1] === 'prefer' ? { kind: 'prefer', node: value } : { kind: 'last-modified', column: value };
}

/**
 * The strategy tied to the pair's nodes. `source`/`target`: the publisher and subscriber of a
 * one-way subscription (for a link: its first and second node); `first`: who wins a tie.
 */
export function resolveStrategy(
  parsed: StrategyText,
  pair: { source: string; target: string; first: string },
): MergeStrategy {
  switch (parsed.kind) {
    case 'prefer-source':
      return { kind: 'prefer', node: pair.source };
    case 'prefer-target':
      return { kind: 'prefer', node: pair.target };
    case 'prefer':
      return { kind: 'prefer', node: parsed.node };
    case 'last-modified':
      return { kind: 'last-modified', column: parsed.column, tieNode: pair.first };
    case 'manual':
      return { kind: 'manual' };
  }
}

/** As the plan and the merge log write it: `prefer:eu`, `last-modified:updated_at`, `manual`. */
export function strategyText(s: MergeStrategy): string {
  return s.kind === 'prefer'
    ? `prefer:${s.node}`
    : s.kind === 'last-modified'
      ? `last-modified:${s.column}`
      : 'manual';
}
