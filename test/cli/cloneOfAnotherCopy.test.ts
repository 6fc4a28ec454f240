import { describe, expect, it } from 'vitest';
import { type IdWriter, idsGoOn, startIdWriter } from '../support/appWriter.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import {
  startStandbys,
  type TestCluster,
  type TestNode,
  type TestStandby,
  useCluster,
} from '../support/cluster.js';
import { backupClone, workersOn } from '../support/physicalCopy.js';
import { currentLsn, digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A physical init from a clone of another copy of the same system (issue 81 item 2, issue 79's
 * last row), on PostgreSQL 18, 16 and 14, under writers that log every acknowledged id: a primary p
 * and two physical standbys of it, ca and cb, both promoted once p stopped (their timeline
 * histories byte-identical); the application goes on writing on ca, the publisher in steep.yaml,
 * and some rows are written on cb; after `steep init prepare` on ca the subscriber is a base
 * backup of cb, the wrong copy, made and recovered the way docs/init.md tells a DBA to make a
 * physical clone. Its history names ca's timeline number and leaves it after the slot, as a clone
 * of ca's would. steep never calls it synchronized, and the way out it prints, followed
 * literally, converges with every id ca acknowledged on the subscriber and the same rows:
 * - cb's clone left timeline 2 beyond all the WAL ca has written: the plan refuses it (no copy of
 *   ca holds WAL ca never wrote); a new base backup of ca in its place is proven and compared;
 * - ca has written past that point by the time of the apply: the plan refuses it, as it lacks the
 *   mark ca committed before the slot; with no mark (a slot an older steep prepared), the
 *   subscription streams from the fork, and the init's comparison finds the rows missing and
 *   extra: `diverged`, and the printed reinit converges.
 */

const TABLE = 'ca_items';
const SUB = 'ca_sub';

interface Status {
  subscriptions: Array<{ name: string; state: string }>;
}

/** p, its two standbys promoted at one point, a writer on ca (the application) and one on cb. */
async function twoPromoted(cluster: TestCluster) {
  const p = cluster.node('p');
  await p.query(`CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
  await p.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
  // the standbys are cold copies of p (it stops for a moment): made before the writer
  const [ca, cb] = (await startStandbys(cluster, 'p', [
    { name: 'ca', slot: 'ca_phys' },
    { name: 'cb', slot: 'cb_phys' },
  ])) as [TestStandby, TestStandby];
  let at = 'p';
  let next = 1_000_000;
  const nodes: Record<string, TestNode> = { p, ca, cb };
  const role = { user: 'postgres', password: p.password };
  const writer = startIdWriter(
    nodes,
    role,
    `public.${TABLE}`,
    () => at,
    () => ++next,
  );
  await idsGoOn(writer, 'p', 100);
  // p goes away once both standbys have all of it; both are promoted at the same point (the
  // application waits for ca meanwhile: its writes fail until ca is promoted)
  at = 'ca';
  const end = await currentLsn(p);
  const past = async (n: TestNode, op: '>=' | '>') =>
    (await n.query<{ ok: boolean }>(`SELECT pg_last_wal_replay_lsn() ${op} $1::pg_lsn AS ok`, [end]))[0]!.ok;
  await eventually(async () => (await past(ca, '>=')) && past(cb, '>='), HANG_MS, 'both standbys past p');
  await p.stop('fast');
  const replayed = async (n: TestNode) =>
    (await n.query<{ lsn: string }>('SELECT pg_last_wal_replay_lsn()::text AS lsn'))[0]!.lsn;
  // p's shutdown checkpoint, after `end`, replayed by both
  await eventually(
    async () =>
      (await past(ca, '>')) && (await past(cb, '>')) && (await replayed(ca)) === (await replayed(cb)),
    HANG_MS,
    'both standbys at the end of p',
  );
  for (const s of [ca, cb]) await s.promote();
  expect(await history(cb, 2)).toBe(await history(ca, 2));
  await idsGoOn(writer, 'ca', 100);
  // rows written on cb, which ca never had
  let bNext = 9_000_000;
  const onB = startIdWriter(
    nodes,
    role,
    `public.${TABLE}`,
    () => 'cb',
    () => ++bNext,
  );
  await idsGoOn(onB, 'cb', 100);
  return { ca, cb, writer, onB };
}

function fileFor(ca: TestNode, sub: TestNode | null): string {
  return [
    'version: 1',
    'topology: clone-of-another-copy',
    nodesYaml(sub ? [ca, sub] : [ca]),
    'publications:',
    `  ca_pub: { node: ca, tables: [public.${TABLE}] }`,
    ...(sub
      ? [
          'subscriptions:',
          `  ${SUB}: { node: ${sub.name}, from: ca, publications: [ca_pub], init: { method: physical } }`,
        ]
      : []),
    '',
  ].join('\n');
}

/** The publication applied on ca, the slot prepared there; its LSN and the printed pg_basebackup line. */
async function prepared(ca: TestNode): Promise<{ lsn: string; printed: string }> {
  const onCa = steepWith({ env: () => passwordEnv([ca]) });
  const first = await onCa(['apply', '--auto-approve'], writeConfig(fileFor(ca, null)));
  expect(first.code, first.stderr).toBe(0);
  // the subscriber's address, not there yet: the DBA restores the clone there
  const placeholder = { ...ca, name: 'west', port: 1 };
  const r = await steepWith({ env: () => passwordEnv([ca, placeholder]) })(
    ['init', 'prepare', SUB, '--json'],
    writeConfig(fileFor(ca, placeholder)),
  );
  expect(r.code, r.stderr).toBe(0);
  const { lsn, clone } = JSON.parse(r.stdout) as { lsn: string; clone: string[] };
  return { lsn, printed: clone.find((l) => l.startsWith('pg_basebackup '))! };
}

/**
 * The first apply on a clone started as printed (no logical replication worker): it warns and
 * creates nothing there yet; what it asks is done (RESET, restart).
 */
async function afterWorkersOff(applied: CliResult, clone: TestNode): Promise<void> {
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  expect(`${applied.stdout}${applied.stderr}`).toContain(
    `then run ALTER SYSTEM RESET max_logical_replication_workers on west, restart it, and apply again`,
  );
  expect(await clone.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [SUB])).toEqual([]);
  await workersOn(clone);
}

/**
 * After `steep init prepare` on ca, cb's base backup on the subscriber's host, promoted (cb's
 * writer stopped): its history reads like a right clone's. With the steep.yaml naming it.
 */
async function wrongClone(ca: TestNode, cb: TestNode, writer: IdWriter, onB: IdWriter) {
  const { lsn, printed } = await prepared(ca);
  await idsGoOn(writer, 'ca', 50);
  const clone = await backupClone(cb, 'west', { printed });
  await onB.stop();
  await eventually(() => promoted(clone), HANG_MS, 'the clone promoted');
  const fork = /^2\t(\S+)/m.exec(await history(clone, 3))![1]!;
  // timeline 2, as ca's, left after the slot: the numbers a clone of ca would show
  expect(await lsnAtLeast(clone, fork, lsn)).toBe(true);
  const config = writeConfig(fileFor(ca, clone));
  const steep = steepWith({ env: () => passwordEnv([ca, clone]), timeoutMs: 240_000 });
  const apply = async () => {
    const applied = await timed(() => steep(['apply', '--auto-approve', '--allow-destroy'], config));
    await report(ca, clone, writer, applied);
    return applied;
  };
  return { clone, fork, config, steep, apply, printed };
}

describe.each([18, 16, 14] as const)(
  'a clone of another copy of the publisher on PostgreSQL %i',
  (version) => {
    // each case its own primary: a case stops it
    const cluster = useCluster({ nodes: ['p'], version });
    const other = useCluster({ nodes: ['p'], version });

    it("forked beyond the publisher's WAL: refused; a new base backup of the publisher in its place converges", async () => {
      const started = Date.now();
      const { ca, cb, writer, onB } = await twoPromoted(cluster());
      try {
        const { clone: wrong, fork, config, steep, apply, printed } = await wrongClone(ca, cb, writer, onB);
        expect(await lsnAtLeast(ca, fork, await currentLsn(ca))).toBe(true);
        const applied = await apply();
        expect(applied.code).toBe(1);
        expect(applied.stderr).toMatch(
          new RegExp(
            `west's timeline 3 left timeline 2 at ${fork}, beyond all the WAL ca has written \\(\\S+\\): .* restore a new base backup of ca on west \\(the pg_basebackup line steep init prepare ${SUB} prints`,
          ),
        );
        expect(await wrong.query('SELECT 1 FROM pg_subscription')).toEqual([]);
        expect(await stateOf(steep, config)).not.toBe('synchronized');
        const check = await steep(['status', '--check'], config);
        expect(check.stdout).not.toContain('Check: healthy.');

        // the way out, literally: a new base backup of ca where west listens, then apply
        await wrong.stop('fast');
        const right = await backupClone(ca, 'west', { printed, dir: 'west_again', port: wrong.port });
        await eventually(() => promoted(right), HANG_MS, 'the new clone promoted');
        await afterWorkersOff(await steep(['apply', '--auto-approve', '--allow-destroy'], config), right);
        const again = await steep(['apply', '--auto-approve', '--allow-destroy'], config);
        expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
        expect(await stateOf(steep, config)).toBe('synchronized');
        await converged(ca, right, writer, started);
      } finally {
        await writer.stop();
        await onB.stop();
      }
    }, 400_000);

    it("forked within the publisher's WAL: refused for want of the publisher's mark; unmarked, compared diverged; the printed reinit converges", async () => {
      const started = Date.now();
      const { ca, cb, writer, onB } = await twoPromoted(other());
      try {
        const { clone: wrong, fork, config, steep, apply } = await wrongClone(ca, cb, writer, onB);
        // ca writes on, past where cb's clone left timeline 2 (a busy publisher's WAL)
        await eventually(
          async () => {
            await ca.query('SELECT pg_switch_wal()');
            await idsGoOn(writer, 'ca', 5);
            return !(await lsnAtLeast(ca, fork, await currentLsn(ca)));
          },
          HANG_MS,
          `ca's WAL past ${fork}`,
        );
        const marked = await apply();
        expect(marked.code).toBe(1);
        expect(marked.stderr).toContain(
          `west does not hold the mark ca committed just before it made slot ${SUB} (no mark there)`,
        );
        expect(marked.stderr).toContain(`restore a new base backup of ca on west`);
        expect(await wrong.query('SELECT 1 FROM pg_subscription')).toEqual([]);

        // a slot prepared before marks (an older steep's): the history alone passes it, the comparison does not
        await ca.query('DELETE FROM steep.clone_marks');
        await afterWorkersOff(await apply(), wrong);
        const applied = await apply();
        expect(applied.code).toBe(1);
        const found = new RegExp(
          `the init of ${SUB} ended with rows that differ from ca's: public\\.${TABLE} \\(missing (\\d+), extra (\\d+), different \\d+\\)`,
        ).exec(applied.stderr);
        expect(found, applied.stderr).not.toBeNull();
        expect(Number(found![1])).toBeGreaterThan(0);
        expect(Number(found![2])).toBeGreaterThan(0);
        expect(await stateOf(steep, config)).toBe('diverged');
        const check = await steep(['status', '--check'], config);
        expect(check.stdout).not.toContain('Check: healthy.');

        // the way out, as printed
        const hint = /repair with: (steep reinit \S+ --tables \S+)/.exec(applied.stderr);
        expect(hint, applied.stderr).not.toBeNull();
        const repaired = await steep([...hint![1]!.split(' ').slice(1), '--auto-approve'], config);
        expect(repaired.code, `${repaired.stdout}\n${repaired.stderr}`).toBe(0);
        expect(await stateOf(steep, config)).toBe('synchronized');
        await converged(ca, wrong, writer, started);
      } finally {
        await writer.stop();
        await onB.stop();
      }
    }, 400_000);
  },
);

/** The history file of `timeline` in `node`'s pg_wal. */
async function history(node: TestNode, timeline: number): Promise<string> {
  const file = `pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
  return (await node.query<{ h: string }>('SELECT pg_read_file($1) AS h', [file]))[0]!.h;
}

async function promoted(node: TestNode): Promise<boolean> {
  return (await node.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false;
}

async function lsnAtLeast(node: TestNode, a: string, b: string): Promise<boolean> {
  return (await node.query<{ ok: boolean }>('SELECT $1::pg_lsn >= $2::pg_lsn AS ok', [a, b]))[0]!.ok;
}

async function stateOf(steep: ReturnType<typeof steepWith>, config: string): Promise<string> {
  const r = await steep(['status', '--json'], config);
  return (JSON.parse(r.stdout) as Status).subscriptions.find((s) => s.name === SUB)?.state ?? 'absent';
}

async function timed(run: () => Promise<CliResult>): Promise<CliResult & { seconds: number }> {
  const t0 = Date.now();
  const r = await run();
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}

async function ids(node: TestNode): Promise<Set<number>> {
  return new Set(
    (await node.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE}`)).map((r) => Number(r.id)),
  );
}

/** The writer stopped and everything streamed: every id ca acknowledged on `sub`, the same rows on both. */
async function converged(ca: TestNode, sub: TestNode, writer: IdWriter, started: number): Promise<void> {
  await idsGoOn(writer, 'ca', 50);
  await writer.stop();
  await waitCaughtUp(ca, SUB);
  const acked = writer.acknowledged().get('ca') ?? [];
  const held = await ids(sub);
  const missing = acked.filter((id) => !held.has(id));
  console.log(
    `PG ${ca.version}: the way out converged: ${missing.length} of ${acked.length} ids acknowledged on ca missing; ${(Date.now() - started) / 1000}s in all`,
  );
  expect(missing).toEqual([]);
  expect(await digests(sub, [TABLE])).toEqual(await digests(ca, [TABLE]));
}

/** What the apply left, as figures: ids ca acknowledged missing on the clone, rows ca never had. */
async function report(
  ca: TestNode,
  clone: TestNode,
  writer: IdWriter,
  applied: CliResult & { seconds: number },
): Promise<void> {
  const streaming = await ca.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [
    SUB,
  ]);
  if (streaming.length > 0) await waitCaughtUp(ca, SUB, 20_000).catch(() => {});
  const acked = writer.acknowledged().get('ca') ?? [];
  const held = await ids(clone);
  const onCa = await ids(ca);
  const missing = acked.filter((id) => !held.has(id)).length;
  const extra = [...held].filter((id) => !onCa.has(id)).length;
  console.log(
    `PG ${ca.version}: apply exit ${applied.code} in ${applied.seconds}s; ${missing} of ${acked.length} ids acknowledged on ca missing on the clone, ${extra} rows ca never had` +
      `\n--- stdout\n${applied.stdout}\n--- stderr\n${applied.stderr}`,
  );
}
