import type { SourcePosition } from '../model/topology.js';
import { mapDocument, type Path, pathOf, type Trail, withOwner } from './paths.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';

/**
 * `${env:NAME}` in any string value is replaced by the environment variable NAME; `$${env:NAME}`
 * stands for the literal text `${env:NAME}`. An unset variable is an error naming it and where
 * it is used.
 */
const PLACEHOLDER = /(\$?)\$\{([^}\n]*)\}/g;
const ENV_NAME = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

export interface InterpolateOptions {
  /**
   * `plan --observed` in a job without production credentials: an unset variable in a node's
   * `password` resolves to **** instead of an error (the plan never needs the password itself).
   */
  maskUnsetPasswords?: boolean;
}

/** The value interpolated, and the paths of values with a placeholder that could not be resolved (already reported). */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  positions: SourceMap,
  problems: ProblemList,
  opts: InterpolateOptions = {},
): { value: unknown; unresolved: Path[] } {
  const unresolved: Path[] = [];
  const interpolateString = (text: string, path: Path): string => {
    const result = text.replace(PLACEHOLDER, (whole: string, dollar: string, inner: string) => {
      if (dollar === '$') return whole.slice(1);
      // a position parses the file again (positions.ts): only a problem needs one
      const at = () => placeholderPosition(positions, path, whole);
      const name = ENV_NAME.exec(inner)?.[1];
      if (name === undefined) {
        if (inner.startsWith('env:')) {
          problems.error(
            'bad-placeholder',
            withOwner(path, `\`${whole}\` is not a valid environment reference`),
            at(),
            'a variable name is letters, digits and _, not starting with a digit',
          );
        } else {
          problems.error(
            'bad-placeholder',
            withOwner(path, `\`${whole}\` is not a placeholder steep knows`),
            at(),
            `write \`\${env:${inner.trim() || 'NAME'}}\` to read an environment variable, or \`$${whole}\` for the literal text`,
          );
        }
        return whole;
      }
      const found = env[name];
      if (found !== undefined) return found;
      if (opts.maskUnsetPasswords && path.at(-1) === 'password') return '****';
      problems.error(
        'env-unset',
        withOwner(path, `environment variable \`${name}\` is not set`),
        at(),
        `export ${name} before running steep`,
      );
      return '';
    });
    if (text.replace(PLACEHOLDER, '').includes('${env:')) {
      problems.error(
        'bad-placeholder',
        withOwner(path, `\`\${env:\` is not closed with \`}\``),
        positions.value(path),
      );
    }
    return result;
  };
  // a list or mapping comes back as itself when no string in it holds a placeholder
  const walk = (v: unknown, trail: Trail | undefined): unknown => {
    if (typeof v !== 'string') return mapDocument(v, walk, trail);
    if (!v.includes('${')) return v;
    const path = pathOf(trail);
    const before = problems.items.length;
    const result = interpolateString(v, path);
    if (problems.items.length > before) unresolved.push(path);
    return result;
  };
  return { value: walk(value, undefined), unresolved };
}

/** The text with every placeholder removed: what was written literally. */
export function literalPart(text: string): string {
  return text.replace(PLACEHOLDER, (whole, dollar: string, inner: string) =>
    dollar === '' && ENV_NAME.test(inner) ? '' : whole,
  );
}

/** The position of the placeholder inside its scalar when it can be found there; else the value's. */
function placeholderPosition(positions: SourceMap, path: Path, placeholder: string): SourcePosition {
  const scalar = positions.scalarSource(path);
  if (scalar) {
    const index = scalar.source.indexOf(placeholder);
    if (index >= 0) return positions.at(scalar.offset + index);
  }
  return positions.value(path);
}
