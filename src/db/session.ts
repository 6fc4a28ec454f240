import type pg from 'pg';

/**
 * The settings steep gives its sessions, in one place: those a session starts with
 * (`startupSettings`: `connect` sends them with the startup message of a replication session and
 * sets them on any other before returning it, new or kept) and those set on a session already
 * open (`setSession`: a step's own timeouts, a comparison's text formats).
 */
export interface SessionSettings {
  /** milliseconds; 0 is no limit */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
  /** any other setting by name, its value as SQL: `{ synchronous_commit: 'off' }` */
  other?: Record<string, string>;
}

const TIMEOUTS = {
  statementTimeoutMs: 'statement_timeout',
  lockTimeoutMs: 'lock_timeout',
  idleInTransactionTimeoutMs: 'idle_in_transaction_session_timeout',
} as const;

function timeouts(s: SessionSettings): Array<[string, number]> {
  return Object.entries(TIMEOUTS).flatMap(([key, name]): Array<[string, number]> => {
    const ms = s[key as keyof typeof TIMEOUTS];
    return ms === undefined ? [] : [[name, Math.max(0, Math.trunc(ms))]];
  });
}

type StartupTimeouts = Pick<pg.ClientConfig, (typeof TIMEOUTS)[keyof typeof TIMEOUTS]>;

/** The timeouts as node-postgres's startup parameters, none that is 0 (no limit, the server's default). */
export function startupSettings(s: SessionSettings): StartupTimeouts {
  return Object.fromEntries(timeouts(s).filter(([, ms]) => ms > 0)) as StartupTimeouts;
}

/** Set `s` on an open session in one round trip; a 0 is set too (it overrides a role's or database's default). */
export async function setSession(client: pg.Client, s: SessionSettings): Promise<void> {
  const sets = [...timeouts(s), ...Object.entries(s.other ?? {})].map(
    ([name, value]) => `SET ${name} = ${value}`,
  );
  if (sets.length > 0) await client.query(sets.join('; '));
}
