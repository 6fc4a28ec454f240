import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { MODULES_DIR, PACKAGE_ROOT } from '../location.js';
import type { SourcePosition } from '../model/topology.js';
import {
  describeObject,
  fieldOf,
  mapDocument,
  type Path,
  pathOf,
  SKIP,
  type Trail,
  withOwner,
} from './paths.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';
import { BrokenPaths } from './reader.js';
import { didYouMean } from './suggest.js';

/** schemas/steep.schema.json, next to src/ and dist/ alike. */
const SCHEMA_URL = new URL('schemas/steep.schema.json', PACKAGE_ROOT);

let schemaText: string | undefined;
let schema: Record<string, unknown> | undefined;
let validator: ValidateFunction | undefined;

function steepSchemaText(): string {
  schemaText ??= readFileSync(SCHEMA_URL, 'utf8');
  return schemaText;
}

/** The JSON Schema of steep.yaml. */
export function steepSchema(): Record<string, unknown> {
  schema ??= JSON.parse(steepSchemaText()) as Record<string, unknown>;
  return schema;
}

/** How steep's validator is compiled (scripts/validator.mjs precompiles it the same way). */
export const AJV_OPTIONS: Options = {
  allErrors: true,
  verbose: true,
  strictTypes: false,
  allowUnionTypes: true,
  // annotation only: the PostgreSQL version a key (or one of its values) needs, for the generated docs
  keywords: ['x-postgres'],
};

// dist/config/ (src/config/ under the tests), where scripts/validator.mjs writes the validator
const require = createRequire(new URL('config/', MODULES_DIR));

/** The validator `npm run build` precompiled, while it was made from the schema as it is now. */
function precompiled(): ValidateFunction | undefined {
  try {
    // the text itself, not a hash of it: comparing is free, loading node:crypto is not
    const v = require('./steepSchema.validator.cjs') as ValidateFunction & { schemaText?: string };
    return v.schemaText === steepSchemaText() ? v : undefined;
  } catch {
    return undefined;
  }
}

function validate(): ValidateFunction {
  validator ??=
    precompiled() ?? new (require('ajv') as { Ajv: typeof Ajv }).Ajv(AJV_OPTIONS).compile(steepSchema());
  return validator;
}

/** Combinators only express what later checks report in their own words. */
const SILENT_KEYWORDS = new Set(['oneOf', 'anyOf', 'not', 'if']);

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping of keys',
  array: 'a list',
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  null: 'empty',
};

const DURATION = 'a duration like 5s, 500ms, 2min or 1h, or a number of milliseconds';
/** What a value must be, for fields whose type or pattern is best said in words. */
const FIELD_WORDS: Record<string, string> = {
  lockTimeout: DURATION,
  statementTimeout: DURATION,
  connectTimeout: DURATION,
  window: 'a duration like 7d, 12h or 30min, or off',
  port: 'a port number (1 to 65535)',
  serverVersion: 'a PostgreSQL version like 14, "18.4" or 180004',
  topology: 'a simple name: lower-case letters, digits, `_` and `-`, at most 63 characters',
  strategy:
    'prefer:<node>, last-modified:<column>, manual, or (a one-way subscription only) prefer-source or prefer-target',
};

const TABLE_ITEM = 'a table name (`schema.table`) or a mapping with `name`, `columns` and `where`';

/**
 * Validate the interpolated document against steep.schema.json and report every finding at its
 * position, in words for a DBA. `broken` holds paths already reported (unresolved `${env:…}`);
 * the paths the schema rejects are added to it.
 */
export function checkSchema(
  value: unknown,
  positions: SourceMap,
  problems: ProblemList,
  broken: BrokenPaths = new BrokenPaths(),
): BrokenPaths {
  const check = validate();
  if (check(withoutShadowingKeys(value, undefined, false, positions, problems, broken))) return broken;
  for (const error of check.errors ?? []) {
    if (SILENT_KEYWORDS.has(error.keyword) || /\/(oneOf|anyOf|not)\//.test(error.schemaPath)) continue;
    const path = toPath(error.instancePath, value);
    const finding = describe(error, path, positions);
    const target = finding.path ?? path;
    // one finding per value; none under a value already rejected or left unresolved
    if (broken.has(target)) continue;
    broken.add(target);
    problems.error(finding.code, finding.message, finding.position, finding.hint);
  }
  return broken;
}

/** Keys that Ajv's uniqueItems check (fast-deep-equal) calls as methods of a mapping. */
const SHADOWING_KEYS = new Set(['toString', 'valueOf']);

/**
 * The value without `toString`/`valueOf` keys on mappings inside lists, each reported as an
 * unknown key: no list item takes such a key, and a string there made the validator throw.
 */
function withoutShadowingKeys(
  value: unknown,
  trail: Trail | undefined,
  inList: boolean,
  positions: SourceMap,
  problems: ProblemList,
  broken: BrokenPaths,
): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value; // a tagged value: Date, Uint8Array…
  }
  return mapDocument(
    value,
    (child, at, childInList) => {
      if (inList && typeof at.key === 'string' && SHADOWING_KEYS.has(at.key)) {
        const keyPath = pathOf(at);
        problems.error(
          'unknown-key',
          withOwner(keyPath, `unknown key \`${at.key}\``),
          positions.key(keyPath),
        );
        broken.add(keyPath);
        return SKIP;
      }
      return withoutShadowingKeys(child, at, childInList, positions, problems, broken);
    },
    trail,
    inList,
  );
}

interface Finding {
  code: string;
  message: string;
  position: SourcePosition;
  hint?: string;
  /** the path the finding concerns, when not the error's own */
  path?: Path;
}

function describe(error: ErrorObject, path: Path, positions: SourceMap): Finding {
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as Record<string, unknown>;
  const field = fieldOf(path);
  const say = (text: string) => withOwner(path, text);
  const invalid = (message: string, hint?: string): Finding => ({
    code: 'invalid-value',
    message,
    position: positions.value(path),
    hint,
  });

  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as Record<string, unknown>);
      const suggestion = didYouMean(key, known);
      const keyPath = [...path, key];
      return {
        code: 'unknown-key',
        message: withOwner(keyPath, `unknown key \`${key}\`${suggestion}`),
        position: positions.key(keyPath),
        hint: suggestion ? undefined : `known keys: ${known.join(', ')}`,
        path: keyPath,
      };
    }
    case 'required': {
      const key = String(params.missingProperty);
      const property = ((parent.properties ?? {}) as Record<string, Record<string, unknown>>)[key] ?? {};
      const example = (property.examples as unknown[] | undefined)?.[0];
      const subject = path.length === 0 ? '' : `${describeObject(path)} is `;
      return {
        code: 'missing-key',
        message: `${subject}missing required key \`${key}\``,
        position: positions.container(path),
        hint:
          example !== undefined && typeof example !== 'object' ? `e.g. \`${key}: ${example}\`` : undefined,
        path: [...path, key],
      };
    }
    case 'type': {
      const types = String(params.type).split(',');
      const words = wordsFor(path) ?? types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      const message = say(`${field}${error.data === null ? ' has no value; it' : ''} must be ${words}`);
      return { code: 'wrong-type', message, position: positions.value(path) };
    }
    case 'enum': {
      const allowed = ((params.allowedValues as unknown[]) ?? []).filter(
        (v) => typeof v === 'string',
      ) as string[];
      const suggestion = typeof error.data === 'string' ? didYouMean(error.data, allowed) : '';
      return invalid(say(`${field} must be one of ${allowed.join(', ')}${suggestion}`));
    }
    case 'const':
      return invalid(
        say(`${field} must be ${JSON.stringify(params.allowedValue)}`),
        path[0] === 'version' ? 'version 1 is the only file format steep knows' : undefined,
      );
    case 'pattern':
      return invalid(say(`${field} must be ${wordsFor(path) ?? `text matching ${String(params.pattern)}`}`));
    case 'minimum':
    case 'maximum': {
      const words = wordsFor(path);
      if (words) return invalid(say(`${field} must be ${words}`));
      const { minimum, maximum } = parent as { minimum?: number; maximum?: number };
      if (minimum !== undefined && maximum !== undefined) {
        return invalid(say(`${field} must be between ${minimum} and ${maximum}`));
      }
      return invalid(
        say(`${field} must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${params.limit}`),
      );
    }
    case 'minItems':
      return invalid(say(`${field} must not be empty`), 'list at least one entry');
    case 'minProperties':
      return invalid(say(`${field} must declare at least one ${path[0] === 'nodes' ? 'node' : 'entry'}`));
    case 'minLength':
      return invalid(say(`${field} must not be empty`));
    case 'uniqueItems': {
      const later = Math.max(Number(params.i), Number(params.j));
      const itemPath = [...path, later];
      const item = (error.data as unknown[])[later];
      return {
        code: 'duplicate-item',
        message: say(`${field} lists \`${String(item)}\` more than once`),
        position: positions.value(itemPath),
        path: itemPath,
      };
    }
    default:
      return invalid(say(`${field} is not valid: ${error.message ?? error.keyword}`));
  }
}

/** Words for what a field must be, where its name says more than its JSON type. */
function wordsFor(path: Path): string | undefined {
  const last = path[path.length - 1];
  if (typeof last === 'number' && path[path.length - 2] === 'tables') return TABLE_ITEM;
  // own keys only: a field named `__proto__` has no words
  return typeof last === 'string' && Object.hasOwn(FIELD_WORDS, last) ? FIELD_WORDS[last] : undefined;
}

/** A JSON pointer as a path; list indices become numbers. */
function toPath(pointer: string, root: unknown): Path {
  let current: unknown = root;
  return pointer
    .split('/')
    .slice(1)
    .map((raw) => {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      const key = Array.isArray(current) ? Number(seg) : seg;
      current =
        current !== null && typeof current === 'object'
          ? (current as Record<string | number, unknown>)[key]
          : undefined;
      return key;
    });
}
