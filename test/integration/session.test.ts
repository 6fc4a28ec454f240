/**
 * The settings steep gives a session (src/db/session.ts), on real PostgreSQL: the timeouts a
 * session starts with are in force when connect returns (a 0 is not sent: the role's own default
 * stays), setSession changes an open session in one statement, and a 0 given to it is set,
 * overriding the role's default. A session withSession is done with is kept for the next connect
 * to that server as that user, reset as a new one, with the next caller's name and timeouts.
 */

import type pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect, withSession } from '../../src/db/connect.js';
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

  /** A login role of this test whose statement_timeout defaults to 7s; its connection spec. */
  async function roleWithDefault(prefix: string) {
    const east = cluster().node('east');
    const role = `${prefix}_${process.pid}`;
    const password = 'Session-pw-1';
    await east.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    onTestFinished(() => east.query(`DROP ROLE IF EXISTS ${role}`).then(() => undefined));
    await east.query(`ALTER ROLE ${role} SET statement_timeout = '7s'`);
    return { role, spec: { ...east.connection, user: role, password } };
  }

  const backendPid = async (c: pg.Client) =>
    (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

  it('connect starts the session with them; setSession sets an open one, 0 included', async () => {
    // a role default that a 0 must override
    const { spec } = await roleWithDefault('steep_session');
    const client = await connect(spec, {
      node: 'east',
      applicationName: 'steep session test',
      lockTimeoutMs: 1500,
      statementTimeoutMs: 0,
    });
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

  it('a session withSession ends is taken by the next connect, reset as a new one; one the server closed is replaced', async () => {
    const east = cluster().node('east');
    const { role, spec } = await roleWithDefault('steep_kept');
    const sessions = async () =>
      (
        await east.query<{ pid: number; app: string }>(
          'SELECT pid, application_name AS app FROM pg_stat_activity WHERE usename = $1',
          [role],
        )
      ).map((r) => r.pid);

    // the first session changes what a session can carry: settings, a lock, a temporary table
    const first = await withSession(
      connect(spec, {
        node: 'east',
        applicationName: 'steep first',
        statementTimeoutMs: 3000,
        lockTimeoutMs: 900,
      }),
      async (c) => {
        expect(await shown(c)).toEqual({ app: 'steep first', statement: '3s', lock: '900ms', sync: 'on' });
        await c.query("SET synchronous_commit = 'off'");
        await c.query('SELECT pg_advisory_lock(4242)');
        await c.query('CREATE TEMPORARY TABLE kept_scratch (i int)');
        return backendPid(c);
      },
    );
    expect(await sessions()).toEqual([first]);
    // kept, but nothing of it: the lock is free for anyone
    expect(
      (
        await east.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_locks WHERE locktype = $1 AND objid = 4242',
          ['advisory'],
        )
      )[0]!.n,
    ).toBe(0);

    // the next caller gets the same process, as if new: its own name, the role's statement_timeout
    // (it gives none), its lock_timeout
    const second = await withSession(
      connect(spec, { node: 'east', applicationName: 'steep second', lockTimeoutMs: 250 }),
      async (c) => {
        expect(await shown(c)).toEqual({ app: 'steep second', statement: '7s', lock: '250ms', sync: 'on' });
        const temp = await c.query("SELECT to_regclass('pg_temp.kept_scratch') AS t");
        expect(temp.rows[0]!.t).toBeNull();
        return backendPid(c);
      },
    );
    expect(second).toBe(first);

    // a session in a failed transaction is closed, not kept
    await expect(
      withSession(connect(spec, { node: 'east' }), async (c) => {
        await c.query('BEGIN');
        await c.query('SELECT 1/0');
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await sessions()).toEqual([]);

    // a query the caller gave up on (a deadline) may never end: that session is closed, and
    // withSession returns at once instead of queueing DISCARD ALL behind it
    const sleeping = connect(spec, { node: 'east', applicationName: 'steep gave up' });
    await expect(
      withSession(sleeping, async (c) => {
        void c.query('SELECT pg_sleep(3600)').catch(() => {});
        throw new Error('deadline');
      }),
    ).rejects.toThrow('deadline');
    await expect((await sleeping).query('SELECT 1')).rejects.toThrow();

    // the server ends the kept one: the next connect opens a new session
    const kept = await withSession(connect(spec, { node: 'east' }), backendPid);
    await east.query('SELECT pg_terminate_backend($1)', [kept]);
    const fresh = await withSession(
      connect(spec, { node: 'east', applicationName: 'steep after' }),
      async (c) => {
        expect((await shown(c))!.app).toBe('steep after');
        return backendPid(c);
      },
    );
    expect(fresh).not.toBe(kept);
  });
});
