/**
 * The observed capture: the file `steep observe --out` writes and `steep plan --observed` reads.
 * It holds what `plan` reads from every node (catalogs, table schemas and fingerprints, row
 * filters as PostgreSQL prints them, which target tables hold rows), without a secret: a
 * subscription's connection string is kept with its password shown as ****. Each node carries
 * the digest of its catalog at capture time, so `apply` of a plan made from the capture can
 * refuse when the live catalog has moved on. A file format, not a rendering.
 */
import type { ClusterState } from './cluster.js';
import { SteepError } from './errors.js';

export const CAPTURE_FORMAT_VERSION = 1;

export interface CapturedNode {
  /** `sha256:` of the node's stable catalog (definitions, not positions, lag or activity) */
  digest: string;
  serverVersion: number;
  /** steep.yaml (or PGPASSWORD/.pgpass) gave this node a password when it was captured */
  password: boolean;
}

export interface ObservedCapture {
  kind: 'steep-observed';
  formatVersion: typeof CAPTURE_FORMAT_VERSION;
  steepVersion: string;
  /** ISO 8601, when the nodes were read */
  takenAt: string;
  /** the steep.yaml the capture was read for */
  config: { path: string; digest: string };
  topology: string;
  nodes: Record<string, CapturedNode>;
  observed: ClusterState;
}

/** What a plan made from a capture records of it (the saved plan's `observed.capture`). */
export interface PlanCapture {
  takenAt: string;
  /** node → the digest of its catalog at capture time */
  nodes: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check the shape of a parsed capture file; one sentence naming the file and what is wrong. */
export function parseCapture(value: unknown, file: string): ObservedCapture {
  const bad = (what: string) =>
    new SteepError('capture.invalid', `${file} is not a steep capture: ${what}`, {
      hint: 'make it with `steep observe --out FILE`',
    });
  if (!isObject(value) || value.kind !== 'steep-observed') throw bad('`kind` is not "steep-observed"');
  if (value.formatVersion !== CAPTURE_FORMAT_VERSION)
    throw bad(`formatVersion ${String(value.formatVersion)} is not ${CAPTURE_FORMAT_VERSION}`);
  if (typeof value.takenAt !== 'string' || Number.isNaN(Date.parse(value.takenAt)))
    throw bad('`takenAt` is not a time');
  if (!isObject(value.config) || typeof value.config.digest !== 'string') throw bad('`config` is missing');
  if (typeof value.topology !== 'string') throw bad('`topology` is missing');
  if (!isObject(value.nodes)) throw bad('`nodes` is missing');
  for (const [name, n] of Object.entries(value.nodes)) {
    if (!isObject(n) || typeof n.digest !== 'string' || typeof n.serverVersion !== 'number')
      throw bad(`node ${name} has no digest or server version`);
  }
  if (!isObject(value.observed) || !isObject(value.observed.nodes)) throw bad('`observed` is missing');
  for (const name of Object.keys(value.nodes)) {
    const n = value.observed.nodes[name];
    if (!isObject(n) || n.reachable !== true) throw bad(`node ${name} has no catalog`);
  }
  return value as unknown as ObservedCapture;
}
