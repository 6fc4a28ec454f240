import type * as Crypto from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { boundSessions } from '../db/connectionLimit.js';
import { type Problem, SteepError } from '../model/errors.js';
import type { Topology } from '../model/topology.js';
import { type InterpolateOptions, interpolate } from './interpolate.js';
import { normalise } from './normalise.js';
import { ProblemList } from './problems.js';
import { BrokenPaths, DocumentReader } from './reader.js';
import { checkReferences } from './references.js';
import { checkRenames } from './renames.js';
import { checkSchema } from './schema.js';
import { checkLiteralPasswords } from './secrets.js';
import { checkVersions } from './versions.js';
import { MAX_FILE_BYTES, parseYaml } from './yamlDocument.js';

export interface LoadResult {
  topology: Topology;
  warnings: Problem[];
}

// loaded at first use: `validate` needs no digest, and loading node:crypto is a noticeable part of its start
let crypto: typeof Crypto | undefined;

/** `sha256:<hex>` of the raw file bytes. */
export function digestOf(bytes: string | Uint8Array): string {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto;
  return `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Parse, interpolate, validate and normalise the text of a steep.yaml. `file` is the path as the
 * user gave it, used in positions. Throws SteepError `config.invalid` carrying every problem
 * found (warnings included, errors first by position); on success returns the warnings.
 * Pass the raw bytes to have the digest computed over exactly them.
 */
export function parseTopology(
  source: string | Uint8Array,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: InterpolateOptions = {},
): LoadResult {
  const problems = new ProblemList();
  // computed when first read (plan records it; validate never reads it)
  let digest: string | undefined;
  const sourceInfo = {
    path: file,
    get digest(): string {
      digest ??= digestOf(source);
      return digest;
    },
  };
  let text: string;
  if (typeof source === 'string') {
    text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(source);
    } catch {
      problems.error('not-utf8', 'the file is not valid UTF-8 text', { file, line: 1, column: 1 });
      throw invalid(file, problems);
    }
  }

  const parsed = parseYaml(text, file, problems);
  if (!parsed) throw invalid(file, problems);
  const { value, positions } = parsed;

  checkLiteralPasswords(new DocumentReader(value), positions, problems);
  const interpolated = interpolate(value, env, positions, problems, opts);
  const broken = new BrokenPaths();
  for (const path of interpolated.unresolved) broken.add(path);
  checkSchema(interpolated.value, positions, problems, broken);
  const ctx = { reader: new DocumentReader(interpolated.value, broken), positions, problems, env };
  const topology = normalise(ctx, sourceInfo);
  checkReferences(ctx, topology);
  checkRenames(topology, positions, problems);
  checkVersions(ctx, topology);

  if (problems.hasErrors) throw invalid(file, problems);
  return { topology, warnings: problems.sorted() };
}

/** Read and parse a steep.yaml file; see parseTopology. A file that cannot be read is `config.unreadable`. */
export async function loadTopology(
  path: string,
  opts: { env?: NodeJS.ProcessEnv } & InterpolateOptions = {},
): Promise<LoadResult> {
  let bytes: Uint8Array;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (info.size > MAX_FILE_BYTES) {
      throw new SteepError(
        'config.unreadable',
        `${path} is ${info.size} bytes; steep.yaml may be at most ${MAX_FILE_BYTES} bytes`,
      );
    }
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof SteepError) throw e;
    throw unreadable(path, e);
  }
  const loaded = parseTopology(bytes, path, opts.env ?? process.env, opts);
  // the file's bound on sessions open at once holds for every session this process opens
  boundSessions(loaded.topology.settings.maxConnections);
  return loaded;
}

function invalid(file: string, problems: ProblemList): SteepError {
  const count = problems.errors.length;
  const message = `${file} is invalid: ${count} ${count === 1 ? 'problem' : 'problems'}`;
  return new SteepError('config.invalid', message, { problems: problems.sorted() });
}

function unreadable(path: string, e: unknown): SteepError {
  const code = (e as { code?: string }).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'it is a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : ((e as Error).message ?? String(e));
  return new SteepError('config.unreadable', `cannot read ${path}: ${why}`, {
    hint: 'give the file with -c/--config or set STEEP_CONFIG',
    cause: e,
  });
}
