import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * What docs/metrics.md's "Metrics" table lists is what `steep metrics` serves on a live pair:
 * the list is read from the page, so neither can change without the other. A metric the table
 * says needs a later PostgreSQL must be absent before it. And the lag in seconds is served on an
 * idle pair after writes, once PostgreSQL has cleared its own measure (replay_lag) — it was
 * absent there, so the lag alert saw only bytes — and absent, not 0, when it cannot be known.
 */

const cluster = useCluster({ nodes: ['east', 'west'] });
const TABLES = [{ name: 'ml_a', rows: 1_000 }];

/** The metrics docs/metrics.md's "Metrics" table lists, each with the first version it needs. */
function listedMetrics(): Array<{ name: string; since: number }> {
  const page = readFileSync(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
  const section = page.split(/^## /m).find((s) => s.startsWith('Metrics\n')) ?? '';
  return [...section.matchAll(/^\| `(steep_[a-z_]+)` \|(.*)$/gm)].map((m) => ({
    name: m[1]!,
    since: Number(/\(PostgreSQL (\d+)\+\)/.exec(m[2]!)?.[1] ?? 14),
  }));
}

/** The families a sample serves (those with a series: an empty family has no TYPE line). */
function servedFamilies(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!).sort();
}

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

describe('metrics docs/metrics.md lists', () => {
  it('every metric docs/metrics.md lists is served on a live pair after writes, and nothing else; lag seconds once PostgreSQL cleared replay_lag, absent when unknown', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const listed = listedMetrics();
    expect(listed.map((m) => m.name)).toContain('steep_subscription_lag_seconds');
    await createTables([east, west], TABLES);
    await fillTables(east, TABLES);
    const config = writeConfig(
      [
        'version: 1',
        'topology: listed',
        nodesYaml([east, west]),
        'publications:',
        '  ml_pub: { node: east, tables: [public.ml_a] }',
        'subscriptions:',
        '  west_ml: { node: west, from: east, publications: [ml_pub] }',
        '',
      ].join('\n'),
    );
    const steep = steepWith({ config, env: passwordEnv([east, west]) });
    expect((await steep(['apply', '--auto-approve'])).code).toBe(0);
    await eventually(async () => (await steep(['status', '--check'])).code === 0, HANG_MS, 'synchronized');

    // the newcomer's pair: 20,000 rows written, arrived, verified, then idle
    await east.query(
      `INSERT INTO public.ml_a (id, v) SELECT g, md5(g::text) FROM generate_series(100001, 120000) g`,
    );
    await eventually(
      async () =>
        JSON.stringify(await digests(east, ['ml_a'])) === JSON.stringify(await digests(west, ['ml_a'])),
      HANG_MS,
      'rows arrived',
    );
    expect((await steep(['verify', 'west_ml'])).code).toBe(0);
    // PostgreSQL clears the walsender's lag times once the subscriber applied all it was sent
    const replayLag = async () =>
      (
        await east.query<{ replay_lag: string | null }>(
          `SELECT r.replay_lag::text AS replay_lag FROM pg_replication_slots s
             JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = 'west_ml'`,
        )
      )[0];
    await eventually(async () => (await replayLag())?.replay_lag === null, HANG_MS, 'replay_lag cleared');

    const expected = listed
      .filter((m) => west.version >= m.since)
      .map((m) => m.name)
      .sort();
    let sample = '';
    // a WAL record of the server's own (a checkpoint's, say) is unconfirmed for a moment: read again
    await eventually(
      async () => {
        const once = await steep(['metrics', '--once']);
        expect(once.code, once.stderr).toBe(0);
        sample = once.stdout;
        return JSON.stringify(servedFamilies(sample)) === JSON.stringify(expected);
      },
      HANG_MS,
      'every listed metric served',
    ).catch(() => {}); // the comparison below says what is missing
    expect(servedFamilies(sample)).toEqual(expected);
    for (const name of expected) expect(series(sample, name), name).not.toEqual([]);
    expect(series(sample, 'steep_subscription_lag_seconds')).toEqual([
      'steep_subscription_lag_seconds{topology="listed",subscription="west_ml",node="west",from="east"} 0',
    ]);
    // before 18 the conflict counters are absent, not 0
    for (const m of listed.filter((x) => west.version < x.since)) expect(series(sample, m.name)).toEqual([]);

    // disabled under writes: WAL waits and no walsender measures it: lag seconds absent, not 0
    await west.query('ALTER SUBSCRIPTION west_ml DISABLE');
    await eventually(async () => (await replayLag()) === undefined, HANG_MS, 'walsender gone');
    await east.query(
      `INSERT INTO public.ml_a (id, v) SELECT g, md5(g::text) FROM generate_series(200001, 201000) g`,
    );
    const disabled = await steep(['metrics', '--once']);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(series(disabled.stdout, 'steep_subscription_lag_seconds')).toEqual([]);
    const lagBytes = series(disabled.stdout, 'steep_subscription_lag_bytes');
    expect(lagBytes).toHaveLength(1);
    expect(Number(lagBytes[0]!.split(' ').at(-1))).toBeGreaterThan(0);
    // what SteepSubscriptionLagUnknown reads: the subscription exists, its lag seconds do not
    expect(series(disabled.stdout, 'steep_subscription_exists')).toEqual([
      'steep_subscription_exists{topology="listed",subscription="west_ml",node="west",from="east"} 1',
    ]);
  });
});
