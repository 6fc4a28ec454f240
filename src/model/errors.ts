import { type Address, addressText } from './address.js';
import type { SourcePosition } from './topology.js';

/**
 * An error a DBA can act on: a code, one sentence saying what is wrong and what to do, and
 * what it concerns. The CLI prints `message` (prefixed by the position when there is one);
 * STEEP_DEBUG=1 adds the stack.
 */
export class SteepError extends Error {
  readonly code: string;
  readonly node?: string;
  readonly address?: string;
  readonly position?: SourcePosition;
  readonly hint?: string;
  /** further problems found in the same run (validation reports them all) */
  readonly problems: Problem[];

  constructor(
    code: string,
    message: string,
    details: {
      node?: string;
      address?: Address | string;
      position?: SourcePosition;
      hint?: string;
      problems?: Problem[];
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SteepError';
    this.code = code;
    this.node = details.node;
    this.address = details.address === undefined ? undefined : addressText(details.address);
    this.position = details.position;
    this.hint = details.hint;
    this.problems = details.problems ?? [];
  }
}

/** One validation finding. */
export interface Problem {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  hint?: string;
  position?: SourcePosition;
}

/** `steep.yaml:12:5: message (hint)` */
export function formatProblem(p: Problem): string {
  const at = p.position;
  const where = at ? `${at.file}:${at.line}:${at.column}: ` : '';
  return `${where}${p.severity === 'warning' ? 'warning: ' : ''}${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}
