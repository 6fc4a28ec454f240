import { type Path, pathKey } from './paths.js';

/** Paths whose values the schema rejected: later checks skip them so nothing is reported twice. */
export class BrokenPaths {
  private readonly keys = new Set<string>();

  add(path: Path): void {
    this.keys.add(pathKey(path));
  }

  /** Whether `path` or one of its ancestors was rejected. */
  has(path: Path): boolean {
    // the usual case, a file the schema accepted: nothing to look up
    if (this.keys.size === 0) return false;
    for (let i = path.length; i >= 0; i--) if (this.keys.has(pathKey(path.slice(0, i)))) return true;
    return false;
  }
}

/**
 * Typed reads of the interpolated document. A read returns undefined when the value is absent,
 * of another type, or was rejected by the schema (already reported), so the checks after the
 * schema never report the same value again and never trip over a wrong type.
 */
export class DocumentReader {
  constructor(
    readonly root: unknown,
    readonly broken: BrokenPaths = new BrokenPaths(),
  ) {}

  get(path: Path): unknown {
    if (this.broken.has(path)) return undefined;
    let current: unknown = this.root;
    for (const seg of path) {
      if (current === null || typeof current !== 'object') return undefined;
      if (Array.isArray(current)) {
        if (typeof seg !== 'number') return undefined;
        current = current[seg];
      } else {
        if (!Object.hasOwn(current, seg)) return undefined;
        current = (current as Record<string, unknown>)[String(seg)];
      }
    }
    return current;
  }

  has(path: Path): boolean {
    return this.get(path) !== undefined;
  }

  string(path: Path): string | undefined {
    const v = this.get(path);
    return typeof v === 'string' ? v : undefined;
  }

  integer(path: Path): number | undefined {
    const v = this.get(path);
    return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
  }

  boolean(path: Path): boolean | undefined {
    const v = this.get(path);
    return typeof v === 'boolean' ? v : undefined;
  }

  list(path: Path): unknown[] | undefined {
    const v = this.get(path);
    return Array.isArray(v) ? v : undefined;
  }

  /** The list's string items with their paths (items of another type are skipped). */
  strings(path: Path): Array<{ value: string; path: Path }> {
    return (this.list(path) ?? []).flatMap((item, i) => {
      const itemPath = [...path, i];
      return typeof item === 'string' && !this.broken.has(itemPath) ? [{ value: item, path: itemPath }] : [];
    });
  }

  mapping(path: Path): Record<string, unknown> | undefined {
    const v = this.get(path);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  }

  /** The keys of the mapping at `path` (in file order), [] when it is absent or not a mapping. */
  keys(path: Path): string[] {
    return Object.keys(this.mapping(path) ?? {});
  }
}
