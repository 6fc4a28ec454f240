import type { ConnectionSpec } from './topology.js';

/**
 * The libpq connection options steep reads, one row each, keyed by the field steep.yaml and
 * `ConnectionSpec` give it: its libpq name (a URL's path or query parameter) and what it is
 * (`address` where the server is and who connects, `secret`, `tls` the mode, `tlsFile` a path taken
 * as written). `db/connectionParams.ts` knows a URL's parameters from it, `config/nodes.ts` a
 * node's and a standby's fields, `model/conninfo.ts` what a subscription's connection string
 * carries, `db/tls.ts` applies the TLS rows (its `TlsSettings` does not compile without a TLS
 * row's). A field of `ConnectionSpec` without a row does not compile;
 * `test/unit/model/connectionOptions.test.ts` fails until the schema's node and standby mappings,
 * a URL's parameters and a subscription's connection string take exactly these.
 *
 * What libpq would act on and steep cannot is refused, not listed here (`UNSUPPORTED_PARAMS`,
 * db/connectionParams.ts); a url's `passfile` is read there while loading (it names a file where
 * steep runs, which no subscription carries); any other URL parameter is ignored with a warning.
 */
export const CONNECTION_OPTION = {
  host: { libpq: 'host', kind: 'address' },
  hostaddr: { libpq: 'hostaddr', kind: 'address' },
  port: { libpq: 'port', kind: 'address' },
  database: { libpq: 'dbname', kind: 'address' },
  user: { libpq: 'user', kind: 'address' },
  password: { libpq: 'password', kind: 'secret' },
  sslmode: { libpq: 'sslmode', kind: 'tls' },
  sslrootcert: { libpq: 'sslrootcert', kind: 'tlsFile' },
  sslcert: { libpq: 'sslcert', kind: 'tlsFile' },
  sslkey: { libpq: 'sslkey', kind: 'tlsFile' },
  sslcrl: { libpq: 'sslcrl', kind: 'tlsFile' },
} as const satisfies Record<
  keyof ConnectionSpec,
  { libpq: string; kind: 'address' | 'secret' | 'tls' | 'tlsFile' }
>;

type Row = typeof CONNECTION_OPTION;
export type ConnectionOption = keyof Row;
type OfKind<K> = { [O in ConnectionOption]: Row[O]['kind'] extends K ? O : never }[ConnectionOption];
export type TlsFile = OfKind<'tlsFile'>;
export type TlsOption = OfKind<'tls' | 'tlsFile'>;

/** Every option, in the table's order. */
export const CONNECTION_OPTIONS = Object.keys(CONNECTION_OPTION) as ConnectionOption[];

const ofKind = <K extends string>(...kinds: K[]) =>
  CONNECTION_OPTIONS.filter((o) => (kinds as string[]).includes(CONNECTION_OPTION[o].kind));

/** libpq's TLS file parameters: paths, taken as written. */
export const SSL_FILES = ofKind('tlsFile') as TlsFile[];
/** libpq's TLS options: the mode and the files. */
export const TLS_OPTIONS = ofKind('tls', 'tlsFile') as TlsOption[];
/** The libpq names of every option: a URL's parameters steep understands. */
export const LIBPQ_NAMES = CONNECTION_OPTIONS.map((o) => CONNECTION_OPTION[o].libpq);
