/**
 * The settings steep gives a session (src/db/session.ts), on real PostgreSQL: the timeouts a
 * session starts with are in force when connect returns (a 0 is not sent: the role's own default
 * stays), setSession changes an open session in one statement, and a 0 given to it is set,
 * overriding the role's default.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from '../../src/db/connect.js';
import { setSession } from '../../src/db/session.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();

describe(`session settings (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['east'], version });

  async function shown(client: { query: (sql: string) => Promise<{ rows: Array<Record<string, string>> }> }) {
    const { rows } = await client.query(
      "SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock, current_setting('synchronous_commit') AS sync",
    );
    return rows[0];
  }

  it('connect starts the session with them; setSession sets an open one, 0 included', async () => {
    const east = cluster().node('east');
    const role = `steep_session_${process.pid}`;
    await east.query(`CREATE ROLE ${role} LOGIN PASSWORD 'Session-pw-1'`);
    onTestFinished(() => east.query(`DROP ROLE IF EXISTS ${role}`).then(() => undefined));
    // a role default that a 0 must override
    await east.query(`ALTER ROLE ${role} SET statement_timeout = '7s'`);
    const client = await connect(
      { ...east.connection, user: role, password: 'Session-pw-1' },
      { node: 'east', applicationName: 'steep session test', lockTimeoutMs: 1500, statementTimeoutMs: 0 },
    );
    onTestFinished(() => client.end().catch(() => {}));
    expect(await shown(client)).toEqual({
      app: 'steep session test',
      statement: '7s',
      lock: '1500ms',
      sync: 'on',
    });

    await setSession(client, {
      statementTimeoutMs: 0,
      lockTimeoutMs: 250.9,
      other: { synchronous_commit: 'off' },
    });
    expect(await shown(client)).toEqual({
      app: 'steep session test',
      statement: '0',
      lock: '250ms',
      sync: 'off',
    });
  });
});
