import { sha256Hex } from './sha256.js';

/**
 * Replication slots and origins are the server's, not a database's: two databases of one server,
 * each with its own topology using the same subscription or link names, would ask for one name.
 * The slots and origins steep names itself (a switchover's way back, a merge's origin) carry this
 * short stable tag of the database they serve: the first 8 hex digits of the SHA-256 of its name
 * (a server's database names are unique; the tag keeps the name within PostgreSQL's 63 bytes).
 */
export function databaseTag(database: string): string {
  return sha256Hex(database).slice(0, 8);
}

/** `base` cut to leave room for `_<tag>` within PostgreSQL's 63-byte names (names steep makes are ASCII). */
export function withDatabaseTag(base: string, database: string): string {
  const tag = databaseTag(database);
  return `${base.slice(0, 63 - tag.length - 1)}_${tag}`;
}
