/**
 * A catalog query: one question, its SQL text and its parameters. `name` identifies it in
 * errors and in the benchmark that replays the same queries with psql.
 */
export interface CatalogQuery {
  name: string;
  text: string;
  values?: unknown[];
}

/** PostgreSQL major versions by server_version_num threshold. */
export const PG15 = 150000;
export const PG16 = 160000;
export const PG17 = 170000;
export const PG18 = 180000;

/** The oldest server_version_num steep reads. */
export const MIN_SERVER_VERSION = 140000;
