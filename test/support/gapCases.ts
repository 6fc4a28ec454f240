import { expect } from 'vitest';
import { startIdWriter } from './appWriter.js';
import {
  type CliResult,
  type Steep,
  steepWith,
  untilHealthy,
  untilHealthyVerified,
  writeConfig,
} from './cli.js';
import type { TestCluster, TestNode } from './cluster.js';
import { digestsByName, fastCopy, idsMissing, slowCopy, waitCaughtUp } from './replicationData.js';
import { dropReplication } from './reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from './topologyFile.js';

/**
 * A hole in a subscription's stream as data (docs/status.md, `gap`): something changes what flows
 * while the apply worker keeps running, under an application that logs every id whose COMMIT
 * returned. The runner takes two nodes back to bare (east publishes, west subscribes), copies,
 * makes each change (by hand, or steep's own) and requires the verdict status must give after it,
 * then what status --check and drift must say, follows the way out exactly as `status --check`
 * prints it (its `ALTER TABLE … on west` first, then its `steep reinit`, or the `steep verify` it
 * names as the other way), and ends with no acknowledged id missing on west and every table equal
 * by column name.
 */
export interface GapCase {
  name: string;
  /** the tables, created on both nodes (the application's table has `id bigserial` and `v text`) */
  tables: string[];
  /** on east, and on west, before the copy: rows, a table one of them makes in its own column order */
  east: string[];
  west?: string[];
  /** the publication's tables (`public.x`) */
  published: string[];
  /** the table west copies slowly (every 100th row waits 0.3 s), so that an apply ends while it copies */
  slowCopy?: string;
  /** more lines of the subscription in steep.yaml (`schemaSync: auto`) */
  subscription?: string[];
  /** the table the application writes its ids into */
  writes: string;
  /** the changes on east, in turn, while the application writes */
  changes: GapChange[];
  /** what `status --check` and `drift` must name; what `status --check` must not name */
  named: string[];
  notNamed?: string[];
  /** more that `status --check`, and `drift`, must say */
  checkSays?: RegExp[];
  driftSays?: RegExp[];
  /** the checks of this case between the verdict and the way out (a gated repair, a refusal) */
  between?: (run: GapRun) => Promise<void>;
  /** the `steep reinit` status --check prints, and how many `ALTER TABLE` it prints for west */
  reinit: string;
  westStatements?: number;
  /** the way taken is the `steep verify` status --check names instead (the table is equal) */
  verifyClears?: boolean;
  /** after the reinit: `apply` (what the copy leaves to schema sync) */
  applyAfter?: boolean;
  /**
   * a hole the stream's facts cannot show yet, and why: its changes say `synchronized` (a rule
   * that sees it makes the case fail, and it becomes an ordinary case); acknowledged ids are then
   * missing on west, `steep verify --rolling` finds the tables diverged, and the way out status
   * prints converges as in every case
   */
  unseen?: string;
}

export interface GapChange {
  /**
   * by hand on east (then on west), or steep's own: the publication's tables in steep.yaml from
   * now on, applied (its output says `says`); `{ writes: n }` between two statements waits for n
   * more ids the application committed there (a window the stream must carry them through)
   */
  sql?: Array<string | { writes: number }>;
  /** on west after `sql`; a function reads east first (a position to give west by hand) */
  westSql?: string[] | ((east: TestNode, west: TestNode) => Promise<string[]>);
  published?: string[];
  says?: RegExp[];
  /** more arguments of steep's own apply of `published` (`--allow-hazard data-gap`, `--no-wait`) */
  flags?: string[];
  /** steep's own apply fails, saying this (its comparison of the tables that joined found them diverged) */
  applyFails?: RegExp;
  /** west's apply worker disabled around it, so west applies it late */
  lag?: boolean;
  /**
   * with `lag`: `status` read before the ENABLE (a scheduled reading), or `apply`: the ENABLE
   * made by `steep apply` (the file says enabled), with no reading before it
   */
  lagEnds?: 'status' | 'apply';
  /**
   * with `lag`: `status` read once the DISABLE took (its worker gone, its slot let go), before
   * `sql`: a scheduled reading during the pause, which records where it stands
   */
  readWhilePaused?: boolean;
  /**
   * before the change, n more ids written and then a `status` read while it streams (a scheduled
   * reading, none during the pause): it records how many transactions the slot has decoded
   */
  readBefore?: { writes: number };
  /** with `lag`: paused and resumed by steep apply (the file says `enabled: false`, then not), never by hand */
  pausedBySteep?: boolean;
  /**
   * with `pausedBySteep`: its worker held up by a lock on west's customers as the pausing apply
   * runs, released once apply waits for it: the DISABLE takes effect only once the worker applied
   * what it holds
   */
  busyWorker?: boolean;
  /** the application does not write while it runs */
  quiet?: boolean;
  /** no steep reading after it, only its copies waited for: the next change is judged with it */
  unread?: boolean;
  /** tables whose membership row in the publication (pg_publication_rel) it re-creates */
  recreates?: string[];
  /** what status says after it (`gap` unless given: `failing` where the worker stops at it too), and reasons it must give */
  state?: 'gap' | 'failing' | 'synchronized' | 'diverged';
  reasons?: RegExp[];
}

export interface GapRun {
  east: TestNode;
  west: TestNode;
  steep: Steep;
  /** ids acknowledged so far */
  acked: () => number[];
  /** waits for `n` more acknowledged ids */
  moreWrites: (n: number) => Promise<void>;
}

/** Two keyed tables with rows on east, both published, the application writing customers. */
export const SHOP = {
  tables: [
    'CREATE TABLE public.customers (id bigserial PRIMARY KEY, v text NOT NULL)',
    'CREATE TABLE public.orders (id bigserial PRIMARY KEY, amount int NOT NULL)',
  ],
  east: [
    'INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 500) g',
    'INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 500) g',
  ],
  published: ['public.customers', 'public.orders'],
  writes: 'public.customers',
};

const APP = { user: 'gap_app', password: 'gap-app-secret-1' };
export const GAP_SUB = 'gap_sub';

function config(c: GapCase, cluster: TestCluster, published: string[], disabled = false): string {
  return writeConfig(
    [
      'version: 1',
      `topology: ${c.name
        .replace(/[^a-z0-9]+/gi, '-')
        .toLowerCase()
        .slice(0, 63)
        .replace(/^-|-$/g, '')}`,
      nodesYaml(cluster.nodes),
      'publications:',
      '  gap_pub:',
      '    node: east',
      `    tables: [${published.join(', ')}]`,
      'subscriptions:',
      `  ${GAP_SUB}:`,
      '    node: west',
      '    from: east',
      '    publications: [gap_pub]',
      ...(c.subscription ?? []).map((l) => `    ${l}`),
      ...(disabled ? ['    enabled: false'] : []),
      '',
    ].join('\n'),
  );
}

interface SubJson {
  name: string;
  state: string;
  verdict: { reasons: string[] } | null;
}

async function subscriptionState(steep: Steep): Promise<{ state: string; reasons: string; text: string }> {
  const r = await steep(['status', '--json']);
  const sub = (JSON.parse(r.stdout) as { subscriptions: SubJson[] }).subscriptions.find(
    (s) => s.name === GAP_SUB,
  );
  return { state: sub?.state ?? 'absent', reasons: sub?.verdict?.reasons.join('\n') ?? '', text: r.stdout };
}

const shown = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** pg_publication_rel's row of each of `tables` in gap_pub on `east` */
async function memberships(east: TestNode, tables: string[]): Promise<string[]> {
  const rows = await east.query<{ t: string; oid: string }>(
    "SELECT pr.prrelid::regclass::text AS t, pr.oid::text AS oid FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = 'gap_pub'",
  );
  return tables.map((t) => rows.find((r) => r.t === t.replace(/^public\./, ''))?.oid ?? 'none');
}

/**
 * Runs one case on `cluster`'s east and west (the cases of a file share them), after taking them
 * back to bare nodes: no subscription, publication, slot, steep state or table in public.
 */
export async function runGapCase(c: GapCase, cluster: TestCluster): Promise<void> {
  const east = cluster.node('east');
  const west = cluster.node('west');
  await dropReplication([east, west]);
  let path = '';
  const steep = steepWith({ config: () => path, env: () => passwordEnv(cluster.nodes), timeoutMs: 180_000 });
  for (const n of [east, west]) {
    for (const { t } of await n.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'",
    ))
      await n.query(`DROP TABLE IF EXISTS public.${t} CASCADE`);
    if ((await n.query(`SELECT 1 FROM pg_roles WHERE rolname = '${APP.user}'`)).length === 0)
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
    for (const sql of c.tables) await n.query(sql);
    await n.query(`GRANT SELECT, INSERT ON ${c.writes} TO ${APP.user}`);
    await n.query(`GRANT USAGE ON SEQUENCE ${c.writes}_id_seq TO ${APP.user}`);
  }
  for (const sql of c.east) await east.query(sql);
  for (const sql of c.west ?? []) await west.query(sql);
  if (c.slowCopy) await slowCopy(west, c.slowCopy, 100, 300);
  let published = c.published;
  path = config(c, cluster, published);
  const applied = await steep(['apply', '--auto-approve']);
  expect(applied.code, shown(applied)).toBe(0);
  // the first reading after the copy records the baseline every later reading is held to
  await untilHealthy(steep);
  const quiet = await steep(['drift']);
  expect(quiet.code, shown(quiet)).toBe(0);

  // one writer at a time (a new one after a quiet change), its ids all counted
  const writers = [startIdWriter({ east }, APP, c.writes, () => 'east')];
  const acked = () => writers.flatMap((w) => w.acknowledged().get('east') ?? []);
  const moreWrites = async (n: number) => {
    const from = acked().length;
    await eventually(async () => acked().length >= from + n, HANG_MS, `${n} more writes on east`);
  };
  const run: GapRun = { east, west, steep, acked, moreWrites };
  try {
    await moreWrites(20);
    for (const change of c.changes) {
      const want = change.state ?? 'gap';
      const before = await memberships(east, change.recreates ?? []);
      if (change.quiet) await writers.at(-1)!.stop();
      if (change.readBefore) {
        await moreWrites(change.readBefore.writes);
        const read = await steep(['status']);
        expect(read.code, shown(read)).toBe(0);
      }
      if (change.lag && change.pausedBySteep) {
        path = config(c, cluster, published, true);
        const held = change.busyWorker ? await west.client() : null;
        await held?.query('BEGIN');
        await held?.query('LOCK TABLE public.customers IN SHARE MODE');
        let ended = false;
        const pausing = steep(['apply', '--auto-approve']).finally(() => {
          ended = true;
        });
        if (held) {
          // released once apply waits for the worker its DISABLE stops (its query on west seen;
          // the pattern is split so this query's own text never matches it), or has ended without
          await eventually(
            async () =>
              ended ||
              (
                await west.query(
                  "SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%pg_stat_subscription w ' || 'JOIN%'",
                )
              ).length > 0,
            HANG_MS,
            'apply to wait for the worker its DISABLE stops',
          );
          await held.query('COMMIT');
          await held.end();
        }
        const paused = await pausing;
        expect(paused.code, shown(paused)).toBe(0);
      } else if (change.lag) await west.query(`ALTER SUBSCRIPTION ${GAP_SUB} DISABLE`);
      if (change.lag && change.readWhilePaused) {
        await eventually(
          async () =>
            (
              await west.query('SELECT 1 FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL', [
                GAP_SUB,
              ])
            ).length === 0 &&
            (
              await east.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [
                GAP_SUB,
              ])
            ).length === 0,
          HANG_MS,
          `${GAP_SUB}'s worker gone and its slot let go`,
        );
        const read = await steep(['status']);
        expect(read.code, shown(read)).toBe(0);
      }
      for (const sql of change.sql ?? [])
        if (typeof sql === 'string') await east.query(sql);
        else await moreWrites(sql.writes);
      const westSql =
        typeof change.westSql === 'function' ? await change.westSql(east, west) : change.westSql;
      for (const sql of westSql ?? []) await west.query(sql);
      if (change.published) {
        published = change.published;
        path = config(c, cluster, published);
        const own = await steep(['apply', '--auto-approve', ...(change.flags ?? [])]);
        expect(own.code, shown(own)).toBe(change.applyFails ? 1 : 0);
        if (change.applyFails) expect(shown(own)).toMatch(change.applyFails);
        for (const r of change.says ?? []) expect(own.stdout).toMatch(r);
      }
      if (change.lag && change.lagEnds === 'status') await steep(['status']);
      if (change.lag && change.lagEnds === 'apply') {
        if (change.pausedBySteep) path = config(c, cluster, published);
        const enabled = await steep(['apply', '--auto-approve']);
        expect(enabled.code, shown(enabled)).toBe(0);
      } else if (change.lag) await west.query(`ALTER SUBSCRIPTION ${GAP_SUB} ENABLE`);
      const after = await memberships(east, change.recreates ?? []);
      for (const [i, t] of (change.recreates ?? []).entries())
        expect(after[i], `${t}'s membership row re-created`).not.toBe(before[i]);
      if (change.quiet) writers.push(startIdWriter({ east }, APP, c.writes, () => 'east'));
      await moreWrites(30);
      if (change.unread) {
        await eventually(
          async () =>
            (await west.query("SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r'")).length === 0,
          HANG_MS,
          'the copies done',
        );
        if (c.slowCopy) await fastCopy(west, c.slowCopy);
        continue;
      }
      // right after an ENABLE status may say unknown until the worker runs: read until it judges
      // (a gap stays until a copy or a verify clears it: one seen ends the wait for synchronized)
      let seen = { state: '', reasons: '', text: '' };
      await eventually(
        async () => {
          seen = await subscriptionState(steep);
          return seen.state === want || (want === 'synchronized' && seen.state === 'gap');
        },
        HANG_MS,
        `status to say ${want}`,
      ).catch(() => {});
      expect(seen.state, seen.text).toBe(want);
      for (const r of change.reasons ?? []) expect(seen.reasons).toMatch(r);
      if (want === 'synchronized') {
        const calm = await steep(['drift']);
        expect(calm.code, shown(calm)).toBe(0);
      }
    }
    if (c.unseen) {
      // the stream's facts do not show this hole (c.unseen says why): the rolling verify, which
      // compares the data whatever opened a hole, must find it, under the writers
      const before = acked().slice();
      await waitCaughtUp(east, GAP_SUB);
      const lost = await idsMissing(west, c.writes, before);
      console.log(`${c.name} (unseen: ${c.unseen}): acknowledged ${before.length}, missing on west ${lost}`);
      expect(lost, 'acknowledged ids missing on west').toBeGreaterThan(0);
      const rolling = await steep(['verify', '--rolling', '--budget', '1min', GAP_SUB]);
      expect(rolling.code, shown(rolling)).toBe(2);
    }
    const check = await steep(['status', '--check']);
    expect(check.code, shown(check)).toBe(2);
    for (const t of c.named) expect(check.stdout, `status --check names ${t}`).toContain(t);
    for (const t of c.notNamed ?? []) expect(check.stdout, `status --check leaves out ${t}`).not.toContain(t);
    for (const r of c.checkSays ?? []) expect(check.stdout).toMatch(r);
    const drift = await steep(['drift']);
    expect(drift.code, shown(drift)).toBe(2);
    for (const t of c.named) expect(drift.stdout, `drift names ${t}`).toContain(t);
    for (const r of c.driftSays ?? []) expect(drift.stdout).toMatch(r);

    // the way out, as status --check prints it now (read again after the case's own checks),
    // followed literally
    let now = check;
    if (c.between) {
      await c.between(run);
      now = await steep(['status', '--check']);
      expect(now.code, shown(now)).toBe(2);
    }
    // (a statement is printed in the subscription's reasons and again in the Check line)
    const statements = new Set(
      [...now.stdout.matchAll(/run `(ALTER TABLE [^`]+)` on west/g)].map((m) => m[1]!),
    );
    expect(statements.size, now.stdout).toBe(c.westStatements ?? 0);
    for (const sql of statements) await west.query(sql);
    // a gap's way out is quoted; a diverged table's is status' `repair: …` beside it
    const printed = /`(steep reinit [^`]+)`|\(repair: (steep reinit [^)]+)\)/.exec(now.stdout);
    const way = printed?.[1] ?? printed?.[2];
    expect(way, now.stdout).toBe(c.reinit);
    if (c.verifyClears) {
      expect(now.stdout).toContain('a steep verify that finds it equal clears the gap');
      const verified = await steep(['verify', GAP_SUB]);
      expect(verified.code, shown(verified)).toBe(0);
      const cleared = await subscriptionState(steep);
      expect(cleared.state, cleared.text).toBe('synchronized');
      expect((await steep(['status', '--check'])).code).toBe(0);
    } else {
      // without a terminal, the confirmation reinit asks for is --auto-approve
      const ran = await steep([...way!.replace(/^steep /, '').split(' '), '--auto-approve']);
      expect(ran.code, shown(ran)).toBe(0);
    }
    // a table the way out did not copy is compared where the workers failed meanwhile
    await untilHealthyVerified(steep);
    if (c.applyAfter) {
      const synced = await steep(['apply', '--auto-approve']);
      expect(synced.code, shown(synced)).toBe(0);
    }
    await moreWrites(50);
  } finally {
    for (const w of writers) await w.stop();
  }
  await waitCaughtUp(east, GAP_SUB);
  const lost = await idsMissing(west, c.writes, acked());
  console.log(`${c.name}: acknowledged ${acked().length}, missing on west ${lost}`);
  expect(lost).toBe(0);
  const tables = c.published.map((t) => t.replace(/^public\./, ''));
  expect(await digestsByName(west, tables)).toEqual(await digestsByName(east, tables));
  const healthy = await steep(['status', '--check']);
  expect(healthy.code, shown(healthy)).toBe(0);
  const settled = await subscriptionState(steep);
  expect(settled.state, settled.text).toBe('synchronized');
  const drift = await steep(['drift']);
  expect(drift.code, shown(drift)).toBe(0);
}
