import type { Problem } from '../model/errors.js';
import type { SourcePosition } from '../model/topology.js';

/** The findings of one validation run, in the order they were found. */
export class ProblemList {
  readonly items: Problem[] = [];

  error(code: string, message: string, position?: SourcePosition, hint?: string): void {
    this.items.push(problem('error', code, message, position, hint));
  }

  warning(code: string, message: string, position?: SourcePosition, hint?: string): void {
    this.items.push(problem('warning', code, message, position, hint));
  }

  get errors(): Problem[] {
    return this.items.filter((p) => p.severity === 'error');
  }

  get hasErrors(): boolean {
    return this.items.some((p) => p.severity === 'error');
  }

  /** Sorted by position (file order), errors and warnings interleaved as they appear in the file. */
  sorted(): Problem[] {
    return [...this.items].sort(byPosition);
  }
}

function problem(
  severity: Problem['severity'],
  code: string,
  message: string,
  position: SourcePosition | undefined,
  hint: string | undefined,
): Problem {
  return { severity, code, message, ...(hint ? { hint } : {}), ...(position ? { position } : {}) };
}

/** File order: by line, then column; a problem without a position first. */
export function byPosition(a: Problem, b: Problem): number {
  return (
    (a.position?.line ?? 0) - (b.position?.line ?? 0) || (a.position?.column ?? 0) - (b.position?.column ?? 0)
  );
}
