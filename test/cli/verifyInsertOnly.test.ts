import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * An insert-only publication (`publish: [insert]`) under verify (issues 62, 79): PostgreSQL never
 * sends its updates and deletes, so the subscriber rightly keeps the rows the publisher changed
 * or deleted. verify compares in the direction PostgreSQL replicates: those differences are
 * allowed and counted apart (equal in PostgreSQL's direction), while a row the publisher inserted
 * and the subscriber lacks is a divergence. A table of the same subscription published with
 * every action is compared as ever. An application inserts on the publisher throughout
 * (acknowledged ids all arrive).
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_io';
const APP = { user: 'io_app', password: 'io-app-secret-1' };
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('verify of an insert-only publication', { timeout: 240_000 }, () => {
  it("is equal in PostgreSQL's direction with the kept rows counted apart, and diverged once an inserted row is missing", async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    for (const n of [east, west]) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query('CREATE TABLE public.io_events (id bigserial PRIMARY KEY, v text NOT NULL)');
      await n.query('CREATE TABLE public.io_full (id bigint PRIMARY KEY, v text NOT NULL)');
      await n.query(`GRANT SELECT, INSERT ON public.io_events TO ${APP.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.io_events_id_seq TO ${APP.user}`);
    }
    await east.query(`INSERT INTO public.io_full SELECT g, md5(g::text) FROM generate_series(1, 10) g`);
    const path = writeConfig(
      [
        'version: 1',
        'topology: insert-only',
        nodesYaml([east, west]),
        'publications:',
        '  io_ins:',
        '    node: east',
        '    tables: [public.io_events]',
        '    publish: [insert]',
        '  io_all:',
        '    node: east',
        '    tables: [public.io_full]',
        'subscriptions:',
        `  ${SUB}:`,
        '    node: west',
        '    from: east',
        '    publications: [io_all, io_ins]',
        '',
      ].join('\n'),
    );
    const applied = await steep(['apply', '--auto-approve'], path);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);

    let updated: string[] = [];
    let deleted: string[] = [];
    const writer = startIdWriter({ east }, APP, 'public.io_events', () => 'east');
    try {
      await eventually(
        async () => (writer.acknowledged().get('east')?.length ?? 0) > 30,
        HANG_MS,
        'writes on east',
      );
      // PostgreSQL does not send these to west
      updated = (
        await east.query<{ id: string }>(
          `UPDATE public.io_events SET v = 'changed' WHERE id % 5 = 0 RETURNING id::text`,
        )
      ).map((r) => r.id);
      deleted = (
        await east.query<{ id: string }>('DELETE FROM public.io_events WHERE id % 7 = 0 RETURNING id::text')
      ).map((r) => r.id);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const ids = new Set(
      (await west.query<{ id: string }>('SELECT id::text FROM public.io_events')).map((r) => Number(r.id)),
    );
    const acked = writer.acknowledged().get('east') ?? [];
    expect(acked.filter((id) => !ids.has(id)).length).toBe(0);

    // every key of east is on west; west holds the deleted rows besides (row counts and keys, order-independent)
    const keys = async (n: typeof east) =>
      (await n.query<{ id: string }>('SELECT id::text FROM public.io_events ORDER BY id')).map((r) => r.id);
    const eastKeys = await keys(east);
    const westKeys = new Set(await keys(west));
    expect(eastKeys.filter((id) => !westKeys.has(id))).toEqual([]);
    expect(westKeys.size).toBe(eastKeys.length + deleted.length);
    const changed = updated.filter((id) => !deleted.includes(id)).length;
    expect(deleted.length).toBeGreaterThan(0);
    expect(changed).toBeGreaterThan(0);

    const verified = await steep(['verify', SUB, '--json'], path);
    type Report = {
      tables: Array<{
        table: string;
        status: string;
        missing: number;
        extra: number;
        different: number;
        allowed?: { missing: number; extra: number; different: number; why: Record<string, string> };
      }>;
    };
    const events = (r: Report) => r.tables.find((t) => t.table === 'public.io_events')!;
    const report = JSON.parse(verified.stdout) as Report;
    const status = Object.fromEntries(report.tables.map((t) => [t.table, t.status]));
    expect(status).toEqual({ 'public.io_events': 'equal', 'public.io_full': 'equal' });
    expect(events(report)).toMatchObject({
      missing: 0,
      extra: 0,
      different: 0,
      allowed: {
        missing: 0,
        extra: deleted.length,
        different: changed,
        why: { extra: 'publish has no delete, truncate', different: 'publish has no update' },
      },
    });
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const text = await steep(['verify', SUB, '--tables', 'public.io_events'], path);
    expect(text.stdout).toContain(
      `public.io_events  equal in PostgreSQL's direction: ${deleted.length} extra rows the publisher deleted are rightly kept (publish has no delete, truncate), ${changed} different rows rightly keep values the publisher changed since (publish has no update)`,
    );
    const [state] = await west.query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = $1`,
      [SUB],
    );
    expect(state!.state).toBe('synchronized');
    const [recorded] = await west.query<{ verdict: string }>(
      `SELECT verdict FROM steep.verified_tables WHERE node_name = 'west' AND subscription = $1 AND table_name = 'public.io_events'`,
      [SUB],
    );
    expect(recorded!.verdict).toBe('equal');
    expect(await digests(west, ['io_full'])).toEqual(await digests(east, ['io_full']));

    // a row east inserted and still holds, gone from west: every inserted row arrives, so this is a divergence
    const lost = eastKeys.find((id) => !updated.includes(id))!;
    await west.query('DELETE FROM public.io_events WHERE id = $1', [lost]);
    const after = await steep(['verify', SUB, '--json'], path);
    const found = events(JSON.parse(after.stdout) as Report);
    expect(found).toMatchObject({
      status: 'diverged',
      missing: 1,
      extra: 0,
      different: 0,
      allowed: { extra: deleted.length, different: changed },
    });
    expect(after.code).toBe(2);
    const [marked] = await west.query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = $1`,
      [SUB],
    );
    expect(marked!.state).toBe('diverged');
    // the rows as verify says: every key of east on west but the one deleted by hand; io_full alike
    const westNow = new Set(await keys(west));
    expect(eastKeys.filter((id) => !westNow.has(id))).toEqual([lost]);
    expect(westNow.size).toBe(eastKeys.length + deleted.length - 1);
    expect(await digests(west, ['io_full'])).toEqual(await digests(east, ['io_full']));
  });
});
