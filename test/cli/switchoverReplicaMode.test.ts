import { describe, expect, it } from 'vitest';
import { roleClient } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { waitCaughtUp } from '../support/replicationData.js';
import { pairYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The switchover's data fence is an ordinary trigger, which a session in
 * `session_replication_role = replica` does not fire; from PostgreSQL 15 a role granted SET on
 * that parameter (or a member of one) may set it, superuser or not. East and west on 18.
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

const PASSWORD = 'replica-mode-secret-5';
const PARAMETER = 'SET ON PARAMETER session_replication_role';

describe('the switchover and a writer that may set session_replication_role = replica (18)', () => {
  it('refuses before it fences anything, naming each grant (direct, or through a membership) with its REVOKE and the GRANT back; followed literally, it switches over', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const p = 'rm';
    for (const n of [east, west]) {
      for (const r of ['app', 'batch']) await n.query(`CREATE ROLE ${p}_${r} LOGIN PASSWORD '${PASSWORD}'`);
      await n.query(`CREATE TABLE public.${p}_ledger (id bigint PRIMARY KEY, v text NOT NULL)`);
      await n.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON public.${p}_ledger TO ${p}_app, ${p}_batch`);
    }
    // rm_app through a role it is a member of, rm_batch directly (and may grant it on)
    await east.query(`CREATE ROLE ${p}_ops NOLOGIN`);
    await east.query(`GRANT ${p}_ops TO ${p}_app`);
    await east.query(`GRANT ${PARAMETER} TO ${p}_ops`);
    await east.query(`GRANT ${PARAMETER} TO ${p}_batch WITH GRANT OPTION`);
    await east.query(`INSERT INTO public.${p}_ledger SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
    const path = writeConfig(
      pairYaml({
        topology: `replica-${p}`,
        publisher: east,
        subscriber: west,
        p,
        tables: [`public.${p}_ledger`],
      }),
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await waitCaughtUp(east, `west_${p}`);
    // the way past the fence is real: the application's own session may take it
    const app = await roleClient(east, { user: `${p}_app`, password: PASSWORD });
    await app.query('SET session_replication_role = replica');
    await app.end();

    const refused = await steep(['switchover', `west_${p}`, '--grace', '1s'], path);
    expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stderr).toContain(
      `role ${p}_app on east may write the subscribed tables and set session_replication_role = replica ` +
        `(SET on parameter session_replication_role is granted to ${p}_ops, of which ${p}_app is a member): ` +
        'a session in replica mode fires no ordinary trigger, so the data fence cannot stop its writes after the fence. ' +
        `Taking the grant back for the switchover is yours to decide: REVOKE ${PARAMETER} FROM "${p}_ops"; on east, ` +
        `and GRANT ${PARAMETER} TO "${p}_ops"; there after the release; then run again`,
    );
    expect(refused.stderr).toContain(
      `role ${p}_batch on east may write the subscribed tables and set session_replication_role = replica ` +
        `(SET on parameter session_replication_role is granted to ${p}_batch)`,
    );
    expect(refused.stderr).toContain(
      `REVOKE ${PARAMETER} FROM "${p}_batch"; on east, and GRANT ${PARAMETER} TO "${p}_batch" WITH GRANT OPTION; there after the release`,
    );
    // nothing was fenced
    const triggers = await east.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.${p}_ledger'::regclass AND NOT tgisinternal`,
    );
    expect(triggers).toEqual([]);
    const logins = await east.query<{ r: string; l: boolean }>(
      `SELECT rolname AS r, rolcanlogin AS l FROM pg_roles WHERE rolname IN ('${p}_app', '${p}_batch') ORDER BY 1`,
    );
    expect(logins).toEqual([
      { r: `${p}_app`, l: true },
      { r: `${p}_batch`, l: true },
    ]);
    expect(await east.query('SELECT 1 FROM pg_db_role_setting WHERE setdatabase <> 0')).toEqual([]);
    const [sub] = await west.query<{ e: boolean }>(
      `SELECT subenabled AS e FROM pg_subscription WHERE subname = 'west_${p}'`,
    );
    expect(sub!.e).toBe(true);

    // as the refusal says: each REVOKE on east, the switchover, each GRANT back there (the same
    // privileges, in any order)
    const printed = (verb: 'REVOKE' | 'GRANT') =>
      [...refused.stderr.matchAll(new RegExp(`${verb} ${PARAMETER} [^;]+;`, 'g'))].map((m) => m[0]);
    const acl = async () =>
      (
        await east.query<{ a: string }>(
          "SELECT string_agg(x::text, ',' ORDER BY x::text) AS a FROM pg_parameter_acl, unnest(paracl) x WHERE parname = 'session_replication_role'",
        )
      )[0]?.a;
    const before = await acl();
    expect(printed('REVOKE')).toHaveLength(2);
    for (const sql of printed('REVOKE')) await east.query(sql);
    const done = await steep(['switchover', `west_${p}`, '--grace', '1s'], path);
    expect(done.code, `${done.stdout}\n${done.stderr}`).toBe(0);
    for (const sql of printed('GRANT')) await east.query(sql);
    expect(await acl()).toBe(before);
  }, 240_000);
});
