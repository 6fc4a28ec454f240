import type { ObservedNode, ObservedSubscription, UnreachableNode } from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import type { ConnectionSpec } from '../model/topology.js';

/*
 * A subscription's publisher (`from`) is not in the subscriber's catalog, only a connection
 * string. readCluster names it by matching that string's host, port and database against the
 * nodes' connections; when the string cannot be read (UNKNOWN) or matches no node (or several),
 * by the one other reachable node holding a logical slot of the subscription's slot name.
 * Otherwise `from` stays '' (unknown).
 */

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

/** host, port and dbname of a libpq connection string (keyword/value or URI); null when it has no host. */
export function conninfoTarget(conninfo: string): ConninfoTarget | null {
  const fields = new Map<string, string>();
  if (/^postgres(ql)?:\/\//i.test(conninfo)) {
    let url: URL;
    try {
      url = new URL(conninfo);
    } catch {
      return null;
    }
    if (url.hostname) fields.set('host', decodeURIComponent(url.hostname));
    if (url.port) fields.set('port', url.port);
    const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (db) fields.set('dbname', db);
    if (url.username) fields.set('user', decodeURIComponent(url.username));
    for (const [k, val] of url.searchParams) fields.set(k, val);
  } else {
    // keyword = value, value optionally single-quoted with backslash escapes
    const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('((?:[^'\\]|\\.)*)'|(\S*))/gy;
    for (let m = re.exec(conninfo); m !== null; m = re.exec(conninfo)) {
      const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
      fields.set(m[1]!.toLowerCase(), value);
    }
  }
  const host = fields.get('host') ?? fields.get('hostaddr');
  if (!host) return null;
  const port = Number(fields.get('port') ?? 5432);
  return {
    host,
    port: Number.isFinite(port) ? port : 5432,
    dbname: fields.get('dbname') ?? fields.get('user') ?? null,
  };
}

function sameTarget(t: ConninfoTarget, spec: ConnectionSpec): boolean {
  return (
    hostKey(t.host) === hostKey(spec.host) &&
    t.port === spec.port &&
    (t.dbname === null || t.dbname === spec.database)
  );
}

export interface NodeAddress {
  name: string;
  connection: ConnectionSpec;
  replicationConnection?: ConnectionSpec;
  /** a multi-host connection string naming the node and its standbys is the node's too */
  standbys?: ConnectionSpec[];
}

/** Every host of a libpq multi-host connection string (`host=a,b port=1,2`), each with its port. */
export function conninfoTargets(conninfo: string): ConninfoTarget[] {
  const first = conninfoTarget(conninfo);
  if (!first) return [];
  const hostsText = first.host;
  if (!hostsText.includes(',')) return [first];
  const portsText = /(?:^|\s)port\s*=\s*'?([0-9,]+)/.exec(conninfo)?.[1] ?? '';
  const ports = portsText.split(',').map((p) => Number(p));
  return hostsText.split(',').map((host, i) => {
    const port = ports.length === 1 ? ports[0]! : (ports[i] ?? 5432);
    return { host, port: Number.isFinite(port) && port > 0 ? port : 5432, dbname: first.dbname };
  });
}

/** The publisher of `sub` (on node `subscriber`), or '' when it cannot be told. */
export function publisherOf(
  sub: ObservedSubscription,
  subscriber: string,
  nodes: NodeAddress[],
  observed: Record<string, ObservedNode | UnreachableNode>,
): string {
  if (!isUnknown(sub.conninfo)) {
    const targets = conninfoTargets(sub.conninfo);
    const matches = nodes.filter((n) =>
      targets.some(
        (target) =>
          sameTarget(target, n.connection) ||
          (n.replicationConnection !== undefined && sameTarget(target, n.replicationConnection)) ||
          (n.standbys ?? []).some((s) => sameTarget(target, s)),
      ),
    );
    if (matches.length === 1) return matches[0]!.name;
  }
  if (sub.slotNone || sub.slot === '') return '';
  const holders = nodes.filter((n) => {
    const o = observed[n.name];
    return n.name !== subscriber && o?.reachable === true && o.slots[sub.slot]?.slotType === 'logical';
  });
  return holders.length === 1 ? holders[0]!.name : '';
}
