import { quoteIdent } from './sql.js';

/**
 * Why a node could not open a replication connection to another (CREATE SUBSCRIPTION … connect =
 * true), and the fix, from the error the subscribing server reports. Every such failure has the
 * SQLSTATE 08001 (connection failure): only the libpq message it carries tells them apart, as
 * PostgreSQL prints it in English (lc_messages C, as the managed services run; another language
 * falls back to naming every cause).
 */
const CAUSES = {
  // 16+: "permission denied to start WAL sender … Only roles with the REPLICATION attribute may start a WAL sender process"
  // 14/15: "must be superuser or replication role to start walsender"
  'replication-attribute': /permission denied to start WAL sender|replication role to start walsender/i,
  // 16+, a subscription whose owner is not a superuser: "password is required" (no password= in
  // its connection: a passfile; or a server that asked for none)
  'password-required': /password is required/i,
  pg_hba: /no pg_hba\.conf entry|pg_hba\.conf rejects/i,
  authentication:
    /password authentication failed|no password supplied|authentication failed for user|role "[^"]*" does not exist/i,
  network:
    /connection refused|could not translate host name|no route to host|timeout expired|network is unreachable|could not connect to server|server closed the connection/i,
};

export type ReplicationConnectCause = keyof typeof CAUSES | 'unknown';

export function replicationConnectCause(message: string): ReplicationConnectCause {
  for (const [cause, re] of Object.entries(CAUSES))
    if (re.test(message)) return cause as ReplicationConnectCause;
  return 'unknown';
}

/**
 * The fix for `from` connecting to `to` as `user` (its connection in steep.yaml), one clause:
 * what to run or change, where, and by whom.
 */
export function replicationConnectFix(message: string, from: string, to: string, user: string): string {
  switch (replicationConnectCause(message)) {
    case 'replication-attribute':
      return (
        `role ${user} on ${to} lacks the REPLICATION attribute a subscriber's connection needs: run ALTER ROLE ${quoteIdent(user)} REPLICATION; on ${to} ` +
        `as a superuser or the cloud admin role (16+: a CREATEROLE role that has REPLICATION itself and ADMIN OPTION on ${user}; RDS: GRANT rds_replication TO ${quoteIdent(user)};)`
      );
    case 'password-required':
      return (
        `PostgreSQL 16+ wants the subscription's owner on ${from}, who is not a superuser, to connect with a password that ${to} asks for: ` +
        `give node ${to} a password in steep.yaml rather than replicationPassfile (steep writes it into the subscription's connection) ` +
        `and let ${to}'s pg_hba.conf ask ${user} for it (scram-sha-256), or run steep as a superuser on ${from}`
      );
    case 'authentication':
      return `${to} refused ${user}'s password (or knows no such role): set the password steep.yaml gives for ${to} to ${user}'s on ${to} (ALTER ROLE ${quoteIdent(user)} PASSWORD …, or the password or passfile in steep.yaml)`;
    case 'pg_hba':
      return `${to}'s pg_hba.conf has no line for a replication connection from ${from} as ${user}: add one (host replication and the database, ${user}, ${from}'s address) and reload ${to}`;
    case 'network':
      return `${from} cannot reach ${to}'s host and port: open the network path from ${from} to ${to} (firewall, security group, host name) as ${to}'s connection in steep.yaml says`;
    case 'unknown':
      return `let ${from} reach ${to} as ${to}'s connection in steep.yaml says (pg_hba.conf, network, password, and role ${user}'s REPLICATION attribute)`;
  }
}
