import { readFileSync } from 'node:fs';
import { PACKAGE_ROOT } from './location.js';

/** steep's own version, from its package.json. */
export const STEEP_VERSION: string = (
  JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8')) as { version: string }
).version;

/** The PostgreSQL major versions steep supports (the catalog reads and the tests cover these). */
export const POSTGRES_RANGE = { oldest: 14, newest: 18 } as const;

/** What `steep --version` prints: steep's version, the PostgreSQL range, the platform. */
export function versionLine(platform: string): string {
  return `steep ${STEEP_VERSION} · PostgreSQL ${POSTGRES_RANGE.oldest}–${POSTGRES_RANGE.newest} · ${platform}`;
}
