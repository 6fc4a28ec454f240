import { describe, expect, it } from 'vitest';
import { startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * An insert-only publication (`publish: [insert]`) under verify (issue 62): PostgreSQL never
 * sends its updates and deletes, so the subscriber rightly keeps the rows the publisher changed
 * or deleted. verify compares as PostgreSQL replicates: the table is not comparable, said once
 * with why — never `diverged` (the subscription is not marked so) and never `equal` — while a
 * table of the same subscription published with every action is compared as ever. An
 * application inserts on the publisher throughout (acknowledged ids all arrive).
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const SUB = 'west_io';
const APP = { user: 'io_app', password: 'io-app-secret-1' };
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 120_000 });

describe('verify of an insert-only publication', { timeout: 240_000 }, () => {
  it('is not comparable, with why, instead of diverged; the fully published table is still compared', async () => {
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

    const writer = startIdWriter({ east }, APP, 'public.io_events', () => 'east');
    try {
      await eventually(
        async () => (writer.acknowledged().get('east')?.length ?? 0) > 30,
        HANG_MS,
        'writes on east',
      );
      // PostgreSQL does not send these to west
      await east.query(`UPDATE public.io_events SET v = 'changed' WHERE id % 5 = 0`);
      await east.query('DELETE FROM public.io_events WHERE id % 7 = 0');
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    const ids = new Set(
      (await west.query<{ id: string }>('SELECT id::text FROM public.io_events')).map((r) => Number(r.id)),
    );
    const acked = writer.acknowledged().get('east') ?? [];
    expect(acked.filter((id) => !ids.has(id)).length).toBe(0);

    const verified = await steep(['verify', SUB, '--json'], path);
    const report = JSON.parse(verified.stdout) as {
      tables: Array<{ table: string; status: string; reason?: string }>;
    };
    const status = Object.fromEntries(report.tables.map((t) => [t.table, t.status]));
    expect(status).toEqual({ 'public.io_events': 'not_verifiable', 'public.io_full': 'equal' });
    expect(report.tables.find((t) => t.table === 'public.io_events')!.reason).toBe(
      "public.io_events is not comparable: its publications do not publish update, delete, so PostgreSQL does not replicate those and west may rightly hold rows that differ from the publisher's",
    );
    // not verified is not equal (exit 2), and never diverged: the subscription is not marked so
    expect(verified.code).toBe(2);
    const [state] = await west.query<{ state: string }>(
      `SELECT state FROM steep.subscription_state WHERE node_name = 'west' AND subscription = $1`,
      [SUB],
    );
    expect(state!.state).toBe('synchronized');
    expect(await digests(west, ['io_full'])).toEqual(await digests(east, ['io_full']));
  });
});
