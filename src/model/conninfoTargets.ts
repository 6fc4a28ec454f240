/**
 * The hosts a libpq connection string names, matched against the nodes steep.yaml declares
 * (catalog/publisherOf.ts names a subscription's publisher by them; a failover's verdict and
 * reinit tell a connection still naming the old primary).
 */
import { parseConninfo } from './conninfo.js';
import type { ConnectionSpec } from './topology.js';

export interface ConninfoTarget {
  host: string;
  port: number;
  dbname: string | null;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function hostKey(host: string): string {
  const h = host.toLowerCase();
  return LOOPBACK.has(h) ? 'localhost' : h;
}

export function sameTarget(t: ConninfoTarget, spec: ConnectionSpec): boolean {
  return (
    hostKey(t.host) === hostKey(spec.host) &&
    t.port === spec.port &&
    (t.dbname === null || t.dbname === spec.database)
  );
}

/** Whether `t` names `spec`'s host and port, whatever the database: an address of the server `spec` is on. */
export function sameServerAddress(t: ConninfoTarget, spec: ConnectionSpec): boolean {
  return hostKey(t.host) === hostKey(spec.host) && t.port === spec.port;
}

export interface NodeAddress {
  name: string;
  connection: ConnectionSpec;
  /** how subscribers reach this node, when it differs */
  replicationConnection?: ConnectionSpec;
  /** its declared physical standbys: a multi-host connection string naming the node and its standbys is the node's too */
  standbys?: ConnectionSpec[];
}

/**
 * Every host of a libpq connection string (keyword/value or URI; multi-host `host=a,b port=1,2`),
 * each with its port and dbname. The string is subconninfo, which PostgreSQL parsed with libpq
 * when the subscription was created or altered, so parseConninfo's leniency never applies.
 */
export function conninfoTargets(conninfo: string): ConninfoTarget[] {
  const fields = parseConninfo(conninfo);
  const hosts = fields.host ?? fields.hostaddr;
  if (!hosts) return [];
  const ports = (fields.port ?? '').split(',').map((p) => Number(p));
  return hosts.split(',').map((host, i) => {
    const port = ports.length === 1 ? ports[0]! : (ports[i] ?? 5432);
    return {
      host,
      port: Number.isFinite(port) && port > 0 ? port : 5432,
      dbname: fields.dbname ?? fields.user ?? null,
    };
  });
}

/** Whether `t` is one of `n`'s own addresses (its connection or its replication connection), not a standby's. */
function namesNode(t: ConninfoTarget, n: NodeAddress): boolean {
  return (
    sameTarget(t, n.connection) ||
    (n.replicationConnection !== undefined && sameTarget(t, n.replicationConnection))
  );
}

/**
 * Where a subscription's connection string (`conninfo`, read) points when none of its hosts is its
 * publisher `from` (after a failover, the stopped old primary until steep apply re-points it): its
 * first host as `host:port`, and the node or standby steep.yaml gives that address to ('' none); undefined
 * when it names `from` (or names no host).
 */
export function connectsElsewhere(
  conninfo: string,
  from: NodeAddress,
  nodes: NodeAddress[],
): { address: string; whose: string } | undefined {
  const targets = conninfoTargets(conninfo);
  const first = targets[0];
  if (first === undefined || targets.some((t) => namesNode(t, from))) return undefined;
  const node = nodes.find((n) => namesNode(first, n));
  const standbyOf = nodes.find((n) => (n.standbys ?? []).some((s) => sameTarget(first, s)));
  const whose = node
    ? `${node.name} in steep.yaml`
    : standbyOf
      ? `a standby of ${standbyOf.name} in steep.yaml`
      : '';
  return { address: `${first.host}:${first.port}`, whose };
}
