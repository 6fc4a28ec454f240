import type pg from 'pg';
import { connect } from '../db/connect.js';
import type { ConnectionSpec } from '../model/topology.js';
import type { CatalogQuery } from './queries/catalogQuery.js';

export const APPLICATION_NAME = 'steep catalog';
/** A catalog read that takes longer than this is cancelled by the server. */
export const DEFAULT_CATALOG_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * A connection for reading a catalog: node-postgres in pipeline mode, so queries issued
 * together (without awaiting each) go to the server back to back and cost one round trip.
 * Every query carries its own Sync, so an error fails that query only (and, inside a
 * transaction, the ones after it until a rollback).
 */
export async function openCatalogSession(
  spec: ConnectionSpec,
  opts: { node: string; connectTimeoutMs?: number; statementTimeoutMs?: number },
): Promise<pg.Client> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? DEFAULT_CATALOG_STATEMENT_TIMEOUT_MS;
  return connect(spec, {
    node: opts.node,
    connectTimeoutMs: opts.connectTimeoutMs,
    statementTimeoutMs,
    applicationName: APPLICATION_NAME,
    pipeline: true,
    // a server that stops answering mid-read (frozen host) fails the read instead of hanging it
    queryTimeoutMs: statementTimeoutMs > 0 ? statementTimeoutMs + 5_000 : undefined,
  });
}

/** Starts the snapshot a node's catalog reads share. */
export const BEGIN_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/** Issue a catalog query (not awaited here: callers issue several, then await them together). */
export async function rows<T>(client: pg.Client, q: CatalogQuery): Promise<T[]> {
  const result = await client.query({ text: q.text, values: q.values });
  return result.rows as T[];
}

/**
 * Issue several queries on a pipelined session in one write: `issue` calls `client.query` for
 * each (synchronously, without awaiting) while the socket is corked, so the server gets them in
 * one packet and wakes once, instead of once per query (a node's ~25 catalog queries; on a busy
 * machine each wake-up can hand the CPU to the server mid-send).
 */
export function inOneWrite<T>(client: pg.Client, issue: () => T): T {
  const stream = client.connection.stream;
  stream.cork();
  try {
    return issue();
  } finally {
    stream.uncork();
  }
}

/** Awaits reads issued as an object's values, keeping their names (issued in the object's order). */
export async function allNamed<T extends Record<string, unknown>>(
  pending: T,
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  const values = await Promise.all(Object.values(pending));
  return Object.fromEntries(Object.keys(pending).map((k, i) => [k, values[i]])) as {
    [K in keyof T]: Awaited<T[K]>;
  };
}

/** PostgreSQL's message with its detail, as one sentence. */
export function postgresMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string };
  const message = e.message ?? String(err);
  return e.detail ? `${message}: ${e.detail}` : message;
}

/** The server's version as server_version_num (180004), read once per session: the one place steep asks. */
export async function serverVersionOf(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ v: number }>(
    `SELECT current_setting('server_version_num')::int AS v`,
  );
  return rows[0]!.v;
}
