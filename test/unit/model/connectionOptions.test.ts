import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConnectionUrl, SSL_MODES } from '../../../src/db/connectionParams.js';
import {
  CONNECTION_OPTION,
  CONNECTION_OPTIONS,
  LIBPQ_NAMES,
  TLS_OPTIONS,
} from '../../../src/model/connectionOptions.js';
import { buildConninfo, parseConninfo } from '../../../src/model/conninfo.js';
import { check } from '../config/support.js';

/**
 * `CONNECTION_OPTION` (model/connectionOptions.ts) is the one table of the libpq options steep
 * reads: a row added there fails here until the schema's node and standby mappings, a URL's
 * parameters and config's node fields accept it and a subscription's connection string carries
 * it, and a field they accept without a row fails too. db/tls.ts's settings do not compile
 * without a TLS row's.
 */

type Schema = {
  properties?: Record<string, Schema>;
  definitions?: Record<string, Schema>;
  items?: Schema;
  oneOf?: Schema[];
  enum?: unknown[];
};
const schema = JSON.parse(readFileSync('schemas/steep.schema.json', 'utf8')) as Schema;
const node = schema.definitions?.node?.properties ?? {};
const standby = node.standbys?.items?.oneOf?.find((s) => s.properties)?.properties ?? {};

/** A node's keys that are not libpq options. */
const NODE_OWN = [
  'url',
  'replicationUrl',
  'replicationPassfile',
  'priority',
  'sandbox',
  'standbys',
  'serverVersion',
];

/** A value each option takes, as a file writes it. */
const SAMPLE: Record<(typeof CONNECTION_OPTIONS)[number], string | number> = {
  host: 'east.internal',
  hostaddr: '10.0.0.5',
  port: 5433,
  database: 'app',
  user: 'steep',
  password: 'pw',
  sslmode: 'verify-full',
  sslrootcert: '/etc/ca.crt',
  sslcert: '/etc/client.crt',
  sslkey: '/etc/client.key',
  sslcrl: '/etc/root.crl',
};

describe('the connection option table', () => {
  it("is a node's connection fields in the schema, in its order", () => {
    expect(Object.keys(node).filter((k) => !NODE_OWN.includes(k))).toEqual(CONNECTION_OPTIONS);
  });

  it("is a standby mapping's fields besides url", () => {
    expect(Object.keys(standby).filter((k) => k !== 'url')).toEqual(CONNECTION_OPTIONS);
  });

  it("takes libpq's sslmode values, as a URL's sslmode does, in a node and a standby", () => {
    expect(node.sslmode?.enum).toEqual([...SSL_MODES]);
    expect(standby.sslmode?.enum).toEqual([...SSL_MODES]);
  });

  it("is a URL's parameters steep uses; any other is ignored", () => {
    const value = (p: string) => (p === 'port' ? 5433 : p === 'hostaddr' ? '10.0.0.5' : 'x');
    const query = [...LIBPQ_NAMES, 'application_name'].map((p) => `${p}=${value(p)}`);
    const parsed = parseConnectionUrl(
      `postgres://h/d?${query.join('&').replace('sslmode=x', 'sslmode=require')}`,
    );
    expect(parsed.ok && parsed.url.ignored).toEqual(['application_name']);
  });

  it("is what config reads from a node's fields", () => {
    const fields = CONNECTION_OPTIONS.map((o) => `${o}: ${SAMPLE[o]}`).join(', ');
    const file = `version: 1\ntopology: t\nnodes:\n  east: { ${fields} }\n`;
    const { topology, errors } = check(file);
    expect(errors).toEqual([]);
    expect(topology?.nodes.east?.connection).toEqual(SAMPLE);
  });

  it("is what a subscription's connection string carries, each option by its libpq name", () => {
    const spec = Object.fromEntries(CONNECTION_OPTIONS.map((o) => [o, SAMPLE[o]])) as never;
    const given = parseConninfo(buildConninfo(spec));
    expect(Object.keys(given).sort()).toEqual([...LIBPQ_NAMES].sort());
    for (const o of TLS_OPTIONS) expect(given[CONNECTION_OPTION[o].libpq], o).toBe(SAMPLE[o]);
  });
});
