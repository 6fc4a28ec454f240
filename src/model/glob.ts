/**
 * Glob patterns as `ignore:` and `settings.dropOrphanSlots` take them: `*` any run of
 * characters, `?` one character, everything else literal and case-sensitive (PostgreSQL names
 * are).
 */
export function globMatches(pattern: string, name: string): boolean {
  const source = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'su').test(name);
}

export function matchesAny(patterns: readonly string[] | undefined, name: string): boolean {
  return (patterns ?? []).some((p) => globMatches(p, name));
}
