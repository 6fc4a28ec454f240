import { describe, expect, it } from 'vitest';
import { type IdWriter, startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import { digests, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * The catalog of advice (src/model/advice.ts), followed literally under writes, counting the
 * application's acknowledged ids: a repair that deletes or overwrites rows runs only when allowed
 * (verify --repair: --allow-destroy; reinit: --auto-approve, or a terminal's yes); after a
 * switchover (the subscription disabled, the subscriber the primary) no printed advice replaces
 * the new primary's rows, and what is printed instead, followed, loses nothing. One pair of nodes
 * (PostgreSQL 18), one table and subscription per case.
 */
const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 180_000 });

/** A table `name` (bigserial key) on both nodes, writable by the application role `app`, and a subscription west ← east. */
async function pair(name: string, app: { user: string; password: string }): Promise<string> {
  const nodes = cluster().nodes;
  for (const n of nodes) {
    await n.query(`CREATE TABLE public.${name} (id bigserial PRIMARY KEY, v text NOT NULL)`);
    await n.query(`CREATE ROLE ${app.user} LOGIN PASSWORD '${app.password}'`);
    await n.query(`GRANT SELECT, INSERT ON public.${name} TO ${app.user}`);
    await n.query(`GRANT USAGE ON SEQUENCE public.${name}_id_seq TO ${app.user}`);
  }
  await nodes[0]!.query(`INSERT INTO public.${name} (v) SELECT md5(g::text) FROM generate_series(1, 2000) g`);
  const path = writeConfig(yaml(name, true));
  const applied = await steep(['apply', '--auto-approve'], path);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  await waitCaughtUp(nodes[0]!, `${name}_sub`);
  return path;
}

function yaml(name: string, enabled: boolean): string {
  return [
    'version: 1',
    `topology: ${name}`,
    nodesYaml(cluster().nodes),
    'publications:',
    `  ${name}_pub:`,
    '    node: east',
    `    tables: [public.${name}]`,
    'subscriptions:',
    `  ${name}_sub:`,
    '    node: west',
    '    from: east',
    `    publications: [${name}_pub]`,
    ...(enabled ? [] : ['    enabled: false']),
    '',
  ].join('\n');
}

async function count(node: TestNode, sql: string): Promise<number> {
  return Number((await node.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${sql}`))[0]!.n);
}

describe('advice, followed as printed', () => {
  it('verify --repair and reinit that delete rows only the subscriber holds are refused without their flag (counts named, nothing changed); allowed, every acknowledged id is on both', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const T = 'adv_gate';
    const SUB = `${T}_sub`;
    const app = { user: 'adv_gate_app', password: 'adv-gate-secret-1' };
    const path = await pair(T, app);
    const writer = startIdWriter({ east, west }, app, `public.${T}`, () => 'east');
    try {
      await eventually(async () => (writer.acknowledged().get('east')?.length ?? 0) > 50, HANG_MS, 'writes');
      // rows only west holds, and one that differs
      await west.query(
        `INSERT INTO public.${T} (id, v) SELECT g, 'only west' FROM generate_series(900001, 900005) g`,
      );
      await west.query(`UPDATE public.${T} SET v = 'west''s own' WHERE id = 10`);

      const refused = await steep(['verify', SUB, '--repair'], path);
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stderr).toContain(
        `error: verify --repair of ${SUB} replaces west's rows of public.${T} with east's: 5 extra row(s) exist only on west and are deleted, 1 different row(s) take east's values; nothing was changed — rerun with --allow-destroy to allow it`,
      );
      expect(await count(west, `public.${T} WHERE id > 900000`)).toBe(5);

      const reinit = await steep(['reinit', SUB, '--tables', T], path);
      expect(reinit.code, reinit.stdout + reinit.stderr).toBe(1);
      expect(reinit.stderr).toMatch(
        new RegExp(
          `reinit of ${SUB} empties public\\.${T} on west and copies it again from east: rows only west holds are deleted; nothing was changed — rerun with --auto-approve`,
        ),
      );
      expect(await count(west, `public.${T} WHERE id > 900000`)).toBe(5);

      const repaired = await steep(['verify', SUB, '--repair', '--allow-destroy', '--json'], path);
      expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
      expect(JSON.parse(repaired.stdout).after.diverged).toBe(false);
    } finally {
      await writer.stop();
    }
    await waitCaughtUp(east, SUB);
    expect(await idsMissing(west, `public.${T}`, writer.acknowledged().get('east') ?? [])).toBe(0);
    expect(await digests(west, [T])).toEqual(await digests(east, [T]));
  }, 300_000);

  it("after a switchover (subscription disabled, the subscriber the primary) drift, status, verify and plan print no repair that replaces the new primary's rows; what they print instead, followed, loses no acknowledged id", async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const T = 'adv_sw';
    const SUB = `${T}_sub`;
    const app = { user: 'adv_sw_app', password: 'adv-sw-secret-2' };
    const path = await pair(T, app);
    let primary = 'east';
    const writer: IdWriter = startIdWriter({ east, west }, app, `public.${T}`, () => primary);
    const printed: string[] = [];
    try {
      await eventually(
        async () => (writer.acknowledged().get('east')?.length ?? 0) > 50,
        HANG_MS,
        'writes on east',
      );
      const done = await steep(['switchover', SUB, '--grace', '1s', '--json'], path);
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).outcome).toBe('released');
      primary = 'west';
      await eventually(
        async () => (writer.acknowledged().get('west')?.length ?? 0) > 50,
        HANG_MS,
        'writes on west',
      );
      // as docs/switchover.md says: the subscription disabled in the file
      const after = writeConfig(yaml(T, false));
      // the file as it was (the subscription enabled), then as docs/switchover.md says (disabled)
      const runs: Array<[string[], string]> = [
        [['plan'], path],
        [['drift'], path],
        [['drift'], after],
        [['status'], after],
        [['verify', SUB], after],
        [['status', '--check'], after],
        [['init', 'status', SUB], after],
        [['drift'], after],
        [['plan'], after],
      ];
      for (const [args, file] of runs) {
        const r = await steep(args, file);
        expect([0, 1, 2], `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toContain(r.code);
        printed.push(`$ steep ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
      }
      const all = printed.join('\n');
      expect(all, all).not.toMatch(/existingData: truncate/);
      expect(all, all).not.toMatch(
        /steep reinit|steep verify \S+ (--tables \S+ )?--repair|steep init cancel/,
      );
      // every steep command printed, run as printed: only read-only ones are left
      const commands = [...all.matchAll(/`?(steep (?:verify|status|drift|plan)[^`;,)\n]*)`?/g)].map((m) =>
        m[1]!.trim().replace(/ counts what differs.*$/, ''),
      );
      for (const c of new Set(commands)) {
        const r = await steep(c.replace(/^steep /, '').split(' '), after);
        expect([0, 2], `${c}\n${r.stdout}\n${r.stderr}`).toContain(r.code);
      }
      // the repairs a DBA reaches for unprompted, flags and all: refused before they change
      // anything, on either node (no slot made on east, which would hold its WAL for ever and
      // stand in the way of the rollback's subscription), and west's rows kept
      const westRows = await count(west, `public.${T}`);
      for (const [args, file] of [
        [['reinit', SUB, '--full', '--auto-approve'], after],
        [['reinit', SUB, '--tables', `public.${T}`, '--auto-approve'], after],
        [['verify', SUB, '--repair', '--allow-destroy'], after],
        // before the file is edited (it still enables the subscription)
        [['reinit', SUB, '--full', '--auto-approve'], path],
      ] as const) {
        const r = await steep([...args], file);
        expect(r.code, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(1);
        expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(/enable it \(steep apply\)/);
        if (args[0] === 'reinit') expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(/steep reinit/);
        expect(
          await east.query('SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1', [SUB]),
          args.join(' '),
        ).toEqual([]);
        expect(await count(west, `public.${T}`), args.join(' ')).toBeGreaterThanOrEqual(westRows);
      }
      await eventually(
        async () => (writer.acknowledged().get('west')?.length ?? 0) > 100,
        HANG_MS,
        'more writes on west',
      );
    } finally {
      await writer.stop();
    }
    const acked = [
      ...(writer.acknowledged().get('east') ?? []),
      ...(writer.acknowledged().get('west') ?? []),
    ];
    expect(await idsMissing(west, `public.${T}`, acked), printed.join('\n')).toBe(0);
  }, 400_000);
});

describe('readings a schedule can rely on', () => {
  it('a drift-only schedule sees one transient apply error and then clears, without a status in between; status --check agrees', async () => {
    const [east, west] = cluster().nodes as [TestNode, TestNode];
    const T = 'adv_read';
    const SUB = `${T}_sub`;
    const path = await pair(T, { user: 'adv_read_app', password: 'adv-read-secret-3' });
    // a short retry interval: the window in which a rise still counts is 10 s
    await west.query("ALTER SYSTEM SET wal_retrieve_retry_interval = '1s'");
    await west.query('SELECT pg_reload_conf()');
    const errors = async () =>
      Number(
        (
          await west.query<{ n: string }>(
            'SELECT apply_error_count::text AS n FROM pg_stat_subscription_stats WHERE subname = $1',
            [SUB],
          )
        )[0]!.n,
      );
    try {
      const first = await steep(['status', '--check'], path);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      // one transient error: a row the publisher's insert collides with, removed again
      await west.query(`INSERT INTO public.${T} (id, v) VALUES (700001, 'in the way')`);
      await east.query(`INSERT INTO public.${T} (id, v) VALUES (700001, 'from east')`);
      await eventually(async () => (await errors()) > 0, HANG_MS, 'the apply error counted');
      await west.query(`DELETE FROM public.${T} WHERE id = 700001 AND v = 'in the way'`);
      await waitCaughtUp(east, SUB);
      const seen = await steep(['drift'], path);
      expect(seen.code, seen.stdout + seen.stderr).toBe(2);
      expect(seen.stdout).toMatch(
        /apply errors rose from 0 to \d+|errors \(apply \d+, sync 0\) last rose at/,
      );
      // drift alone, again and again: once the window has passed without a new error, the failing verdict clears
      let last = seen;
      await eventually(
        async () => {
          last = await steep(['drift'], path);
          return !last.stdout.includes('Replication failing');
        },
        HANG_MS,
        'drift to clear',
      ).catch(() => {
        throw new Error(`drift never cleared:\n${last.stdout}\n${last.stderr}`);
      });
      // what is left is PostgreSQL 18's conflict count, and the verify it advises (read-only) settles it
      expect(last.stdout).toContain(`compare them with \`steep verify ${SUB}\``);
      const verified = await steep(['verify', SUB], path);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      const clean = await steep(['drift'], path);
      expect(clean.code, clean.stdout + clean.stderr).toBe(0);
      const check = await steep(['status', '--check'], path);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(await digests(west, [T])).toEqual(await digests(east, [T]));
    } finally {
      await west.query('ALTER SYSTEM RESET wal_retrieve_retry_interval');
      await west.query('SELECT pg_reload_conf()');
    }
  }, 300_000);
});
