import { describe, expect, it } from 'vitest';
import { adminOptionGrant } from '../../../src/model/membershipGrant.js';
import {
  type ReplicationConnectCause,
  replicationConnectCause,
  replicationConnectFix,
} from '../../../src/model/replicationConnectError.js';

/** What CREATE SUBSCRIPTION … connect = true reports (SQLSTATE 08001 for each), as PostgreSQL prints it. */
const AT =
  'subscription "s" could not connect to the publisher: connection to server at "10.0.0.2", port 5432 failed:';

describe('a replication connection refused: its cause and fix', () => {
  const cases: Array<{ message: string; cause: ReplicationConnectCause; fix: RegExp }> = [
    {
      message: `${AT} FATAL: permission denied to start WAL sender DETAIL: Only roles with the REPLICATION attribute may start a WAL sender process.`,
      cause: 'replication-attribute',
      fix: /^role runner on new lacks the REPLICATION attribute .*: run ALTER ROLE "runner" REPLICATION; on new as a superuser or the cloud admin role/,
    },
    {
      message: `${AT} FATAL: must be superuser or replication role to start walsender`,
      cause: 'replication-attribute',
      fix: /ALTER ROLE "runner" REPLICATION; on new/,
    },
    {
      message: `${AT} FATAL: password authentication failed for user "runner"`,
      cause: 'authentication',
      fix: /^new refused runner's password .*: set the password steep.yaml gives for new/,
    },
    {
      message: `${AT} fe_sendauth: no password supplied`,
      cause: 'authentication',
      fix: /password/,
    },
    {
      // 16+: CREATE SUBSCRIPTION by a non-superuser without password= (a passfile)
      message: 'password is required',
      cause: 'password-required',
      fix: /^PostgreSQL 16\+ wants the subscription's owner on old, who is not a superuser, to connect with a password that new asks for: give node new a password in steep\.yaml rather than replicationPassfile .* or run steep as a superuser on old$/,
    },
    {
      // 16+: a server that asked the non-superuser for no password (trust)
      message: `${AT} password is required DETAIL: Non-superuser cannot connect if the server does not request a password.`,
      cause: 'password-required',
      fix: /let new's pg_hba\.conf ask runner for it/,
    },
    {
      message: `${AT} FATAL: no pg_hba.conf entry for replication connection from host "10.0.0.1", user "runner", no encryption`,
      cause: 'pg_hba',
      fix: /^new's pg_hba\.conf has no line for a replication connection from old as runner: add one/,
    },
    {
      message: `${AT} Connection refused Is the server running on that host and accepting TCP/IP connections?`,
      cause: 'network',
      fix: /^old cannot reach new's host and port/,
    },
    {
      message:
        'subscription "s" could not connect to the publisher: could not translate host name "nowhere" to address: Name or service not known',
      cause: 'network',
      fix: /network path/,
    },
    {
      message: `${AT} FATAL: unerwarteter Fehler`,
      cause: 'unknown',
      fix: /^let old reach new as new's connection in steep\.yaml says \(pg_hba\.conf, network, password, and role runner's REPLICATION attribute\)/,
    },
  ];
  it.each(cases)('$cause: $message', ({ message, cause, fix }) => {
    expect(replicationConnectCause(message)).toBe(cause);
    expect(replicationConnectFix(message, 'old', 'new', 'runner')).toMatch(fix);
  });
});

describe('the GRANT that gives ADMIN OPTION on a role and takes nothing away', () => {
  it('names ADMIN OPTION alone on a membership that exists: INHERIT and SET left as they are', () => {
    expect(adminOptionGrant('shopapp', 'steep_runner', true)).toBe(
      'GRANT "shopapp" TO "steep_runner" WITH ADMIN OPTION;',
    );
  });
  it('makes a new membership INHERIT FALSE, SET FALSE: no more than ALTER ROLE needs', () => {
    expect(adminOptionGrant('Shop App', 'runner', false)).toBe(
      'GRANT "Shop App" TO "runner" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;',
    );
  });
});
