/**
 * TLS as libpq does it (https://www.postgresql.org/docs/current/libpq-ssl.html), for
 * `db/connect.ts` alone: which attempts one connection makes and what each one checks.
 *
 * - sslmode `disable` plain; `allow` plain, then TLS if the server refuses; `prefer` (the default)
 *   TLS, then plain if the server refuses TLS or the session; `require` TLS; `verify-ca` TLS and the
 *   chain against sslrootcert; `verify-full` that and the host name.
 * - A root certificate file that exists (sslrootcert, PGSSLROOTCERT, ~/.postgresql/root.crt) makes
 *   every TLS attempt check the chain, so `require` with one is `verify-ca`; verify-ca and
 *   verify-full without one are an error. `sslrootcert=system` is the system store and only goes
 *   with verify-full (its default then).
 * - A client certificate (sslcert, default ~/.postgresql/postgresql.crt) is sent when its file
 *   exists, with its key (sslkey, default ~/.postgresql/postgresql.key), which may not be
 *   readable by group or others; sslcrl (default ~/.postgresql/root.crl) when it exists.
 * - A field given for the node wins over its PG* variable.
 *
 * node-postgres's own `uselibpqcompat` (pg-connection-string) is not used: it verifies the chain
 * for `allow`, never falls back between TLS and plain, and knows none of the default files.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { TlsFile } from '../model/connectionOptions.js';
import { SteepError } from '../model/errors.js';
import type { ConnectionSpec } from '../model/topology.js';
import { SSL_MODES } from './connectionParams.js';

export type SslMode = (typeof SSL_MODES)[number];

/** One attempt: plain (`false`) or TLS with these options. */
export type TlsAttempt = false | tls.ConnectionOptions;

/** The TLS settings in force for a connection: the node's fields, else the PG* variables, else libpq's defaults. */
export type TlsSettings = { sslmode: SslMode } & Record<TlsFile, string>;

export function tlsSettings(spec: ConnectionSpec, env: NodeJS.ProcessEnv = process.env): TlsSettings {
  const dir = path.join(env.HOME || os.homedir(), '.postgresql');
  const sslrootcert = spec.sslrootcert || env.PGSSLROOTCERT || path.join(dir, 'root.crt');
  const given = spec.sslmode || env.PGSSLMODE;
  // libpq: sslrootcert=system makes verify-full the default mode
  const mode = given ?? (sslrootcert === 'system' ? 'verify-full' : 'prefer');
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new SteepError('connect', `sslmode \`${mode}\` is not one of ${SSL_MODES.join(', ')}`);
  }
  return {
    sslmode: mode as SslMode,
    sslrootcert,
    sslcert: spec.sslcert || env.PGSSLCERT || path.join(dir, 'postgresql.crt'),
    sslkey: spec.sslkey || env.PGSSLKEY || path.join(dir, 'postgresql.key'),
    sslcrl: spec.sslcrl || env.PGSSLCRL || path.join(dir, 'root.crl'),
  };
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function readPem(node: string, what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SteepError(
      'connect',
      `node ${node}: cannot read the ${what} ${file}: ${(err as Error).message}`,
      {
        node,
      },
    );
  }
}

/**
 * libpq refuses a private key that others may read: one the user owns only 0600 or less, one
 * root owns only 0640 or less (a key another user owns is not checked).
 */
function checkKeyMode(node: string, file: string): void {
  if (process.platform === 'win32') return;
  const st = statSync(file);
  const mode = st.mode & 0o777;
  const own = st.uid === process.geteuid?.() && (mode & 0o077) !== 0;
  const root = st.uid === 0 && (mode & 0o037) !== 0;
  if (own || root) {
    throw new SteepError(
      'connect',
      `node ${node}: the private key file ${file} may be read by group or others (mode ${mode.toString(8)}), which libpq and steep refuse; chmod 600 ${file}`,
      { node },
    );
  }
}

/** The options of a TLS attempt: what it verifies, and the client certificate. */
function tlsOptions(node: string, s: TlsSettings): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {};
  if (s.sslrootcert === 'system') {
    if (s.sslmode !== 'verify-full') {
      throw new SteepError(
        'connect',
        `node ${node}: sslmode ${s.sslmode} may not be used with sslrootcert=system; libpq allows only sslmode verify-full there`,
        { node },
      );
    }
    // Node 20 has no getCACertificates('system'): its bundled list, or OpenSSL's store with --use-openssl-ca
    const system = (tls as { getCACertificates?: (kind: string) => string[] }).getCACertificates?.('system');
    if (system) options.ca = system;
  } else if (isFile(s.sslrootcert)) {
    options.ca = readPem(node, 'root certificate file (sslrootcert)', s.sslrootcert);
    options.rejectUnauthorized = true;
    if (isFile(s.sslcrl)) options.crl = readPem(node, 'certificate revocation list (sslcrl)', s.sslcrl);
    // the chain is checked in every mode; the host name only in verify-full
    if (s.sslmode !== 'verify-full') options.checkServerIdentity = () => undefined;
  } else if (s.sslmode === 'verify-ca' || s.sslmode === 'verify-full') {
    throw new SteepError(
      'connect',
      `node ${node}: sslmode ${s.sslmode} needs the root certificate file ${s.sslrootcert}, which does not exist; set sslrootcert to the CA's certificate file (or system), or use a weaker sslmode`,
      { node },
    );
  } else {
    options.rejectUnauthorized = false;
  }
  return { ...options, ...clientCertificate(node, s) };
}

function clientCertificate(node: string, s: TlsSettings): tls.ConnectionOptions {
  if (!isFile(s.sslcert)) return {};
  if (!isFile(s.sslkey)) {
    throw new SteepError(
      'connect',
      `node ${node}: the client certificate ${s.sslcert} has no private key file ${s.sslkey}; set sslkey to the certificate's key`,
      { node },
    );
  }
  checkKeyMode(node, s.sslkey);
  return {
    cert: readPem(node, 'client certificate file (sslcert)', s.sslcert),
    key: readPem(node, 'private key file (sslkey)', s.sslkey),
  };
}

/**
 * With a hostaddr, the server is still `host` to TLS, as to libpq: its name goes out as SNI
 * (not an IP address: RFC 6066) and verify-full checks the certificate against it, not against
 * the address connected to (node-postgres would use that address, its `host`).
 */
function serverName(spec: ConnectionSpec): tls.ConnectionOptions {
  if (spec.hostaddr === undefined) return {};
  return isIP(spec.host) === 0 ? { host: spec.host, servername: spec.host } : { host: spec.host };
}

/** The attempts libpq makes for `spec`, in order; a later one only after the server refused the one before. */
export function tlsAttempts(
  node: string,
  spec: ConnectionSpec,
  env: NodeJS.ProcessEnv = process.env,
): TlsAttempt[] {
  const s = tlsSettings(spec, env);
  if (s.sslmode === 'disable') return [false];
  const secure = { ...tlsOptions(node, s), ...serverName(spec) };
  if (s.sslmode === 'allow') return [false, secure];
  if (s.sslmode === 'prefer') return [secure, false];
  return [secure];
}

/**
 * Whether libpq would try the next attempt after this error: the server refused TLS, the TLS
 * handshake failed, or the server answered with an error; not when the server could not be
 * reached at all (refused, unknown host, timeout).
 */
export function triesNext(err: unknown): boolean {
  const e = err as { code?: string; syscall?: string; message?: string };
  if (e.syscall !== undefined) return false;
  return !/timeout|timed out/i.test(e.message ?? '');
}

const CHAIN_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_GET_CRL',
  'CRL_HAS_EXPIRED',
]);

/** One sentence about a TLS failure (`where` is host:port/db as user), or undefined when `err` is not one. */
export function describeTlsError(
  node: string,
  spec: ConnectionSpec,
  where: string,
  err: unknown,
): string | undefined {
  const e = err as { code?: string; message?: string };
  const s = tlsSettings(spec);
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `node ${node}: the server certificate at ${where} does not name host ${spec.host} (sslmode verify-full checks the host name): ${e.message}; connect by a name the certificate lists, or use sslmode verify-ca`;
  }
  if (e.code !== undefined && CHAIN_CODES.has(e.code)) {
    const ca = isFile(s.sslrootcert) ? `sslrootcert ${s.sslrootcert}` : 'the system CA store';
    return `node ${node}: the server certificate at ${where} is not trusted by ${ca} (sslmode ${s.sslmode}): ${e.message}; check that sslrootcert holds the CA that signed the server's certificate`;
  }
  if (e.message === 'The server does not support SSL connections') {
    return `node ${node}: the server at ${where} does not accept TLS (sslmode ${s.sslmode}); turn ssl on there, or use sslmode prefer`;
  }
  return undefined;
}
