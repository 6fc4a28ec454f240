import { describe, expect, it } from 'vitest';
import { clientConfig } from '../../../src/db/connect.js';
import { startupSettings } from '../../../src/db/session.js';

const spec = { host: 'h', port: 5432, database: 'd', user: 'u', sslmode: 'disable' };

describe('session settings: one place', () => {
  it('a session starts with its timeouts as startup parameters, whole milliseconds, 0 left to the server', () => {
    expect(
      startupSettings({ statementTimeoutMs: 30_000.7, lockTimeoutMs: 0, idleInTransactionTimeoutMs: 5 }),
    ).toEqual({
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 5,
    });
    expect(startupSettings({ other: { work_mem: "'64MB'" } })).toEqual({});
  });

  it('connect sends them with the application name', () => {
    const config = clientConfig(spec, { node: 'east', applicationName: 'steep x', lockTimeoutMs: 1500 });
    expect(config).toMatchObject({ application_name: 'steep x', lock_timeout: 1500 });
    expect(config.statement_timeout).toBeUndefined();
  });
});
