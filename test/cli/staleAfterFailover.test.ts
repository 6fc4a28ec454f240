import { describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { writeLoop } from '../support/appWriter.js';
import { type CliResult, steepWith, untilHealthyVerified, writeConfig } from '../support/cli.js';
import { startCluster, startStandby, type TestNode } from '../support/cluster.js';
import { failoverFile } from '../support/failoverFile.js';
import { createTables, currentLsn, digests, fillTables, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv } from '../support/topologyFile.js';

/**
 * Issue 81 item 3: after a failover, the old primary restarted on the old timeline (split brain)
 * is never taken for the new primary. Primary A with standby B, a subscriber; A stopped, B
 * promoted, steep.yaml re-pointed as docs/failover.md says (B in url, A among its standbys) and
 * applied. Then A starts again as a primary and the application writes 50 rows there. steep
 * names A stale (an older branch of pub's system: its timeline, read, against the one steep read
 * and recorded for B), says how much WAL A wrote past the fork and from where, and points nothing
 * at it: neither status nor plan advise making it pub's connection, and a file that does so
 * anyway (the DBA following the old advice) is refused in one sentence naming the node and what
 * to do. Every piece of advice steep prints is then followed literally, under writes on B: 0
 * acknowledged ids lost on B, the stale writes kept (copied to B), the subscriber equal to B.
 */

const TABLE = 'st_items';
const SUB = 'st_sub';

/** Writes one row per transaction on the node `target()` names, recording each acknowledged id by that node's port. */
function startWriter(target: () => TestNode, after: number) {
  let next = after;
  const acked = new Map<number, number[]>();
  const stopLoop = writeLoop(
    () => String(target().port),
    async () => {
      const c = await target().client();
      c.on('error', () => {});
      return c;
    },
    async (client, at) => {
      // an id whose commit went unacknowledged is never written again
      next += 1;
      const id = next;
      await client.query(`INSERT INTO public.${TABLE} (id, v) VALUES ($1::bigint, md5($1::text))`, [id]);
      acked.set(Number(at), [...(acked.get(Number(at)) ?? []), id]);
    },
    () => {},
  );
  const count = () => [...acked.values()].reduce((n, ids) => n + ids.length, 0);
  return {
    acked,
    goesOn: async (n: number, what: string) => {
      const from = count();
      await eventually(async () => count() >= from + n, HANG_MS, what);
    },
    stop: async () => {
      await stopLoop();
      return [...acked.values()].flat();
    },
  };
}

function fileFor(url: TestNode, standbys: TestNode[], sub: TestNode): string {
  return failoverFile({
    topology: 'stale',
    table: TABLE,
    publication: 'st_pub',
    subscription: SUB,
    url,
    standbys,
    sub,
  });
}

function out(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/** The LSN where timeline 2 of `node` (promoted) left timeline 1, from its history file. */
async function forkOf(node: TestNode): Promise<string> {
  const [row] = await node.query<{ h: string }>("SELECT pg_read_file('pg_wal/00000002.history') AS h");
  return /^1\s+(\S+)/m.exec(row!.h)![1]!.toUpperCase();
}

async function conninfoPort(sub: TestNode): Promise<string> {
  const [r] = await sub.query<{ c: string }>(
    'SELECT subconninfo AS c FROM pg_subscription WHERE subname = $1',
    [SUB],
  );
  return /\bport=(\d+)/.exec(r!.c)![1]!;
}

/** pg_lsn arithmetic on the server: `a - b` in bytes. */
async function lsnDiff(node: TestNode, a: string, b: string): Promise<number> {
  const [r] = await node.query<{ d: string }>('SELECT ($1::pg_lsn - $2::pg_lsn)::text AS d', [a, b]);
  return Number(r!.d);
}

const versions: PgMajor[] = [18, 16];

describe('the old primary restarted after a failover (split brain)', () => {
  it.each(versions)(
    '%i: named stale with the WAL it wrote past the fork; never made the connection, copied from or re-pointed to; 0 acknowledged ids lost',
    async (version) => {
      const cluster = await startCluster({ nodes: ['pub', 'sub'], version });
      try {
        const b = await startStandby(cluster, 'pub', { name: 'pub_standby', slot: 'pub_standby' });
        const a = cluster.node('pub');
        const sub = cluster.node('sub');
        await createTables([a, sub], [{ name: TABLE, rows: 1000 }]);
        await fillTables(a, [{ name: TABLE, rows: 1000 }]);
        const file = { path: writeConfig(fileFor(a, [b], sub)) };
        const env = { ...passwordEnv([sub]), PUB_PGPASSWORD: a.password };
        const steep = steepWith({ config: () => file.path, env: () => env, timeoutMs: 120_000 });
        const name = (url: TestNode, standbys: TestNode[]) => {
          file.path = writeConfig(fileFor(url, standbys, sub));
        };
        const applied = await steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        if (version >= 17) {
          // slot synchronisation complete, as steep's readiness names it
          await a.query("ALTER SYSTEM SET synchronized_standby_slots = 'pub_standby'");
          await a.query('SELECT pg_reload_conf()');
          await eventually(
            async () => {
              await a.query('SELECT pg_log_standby_snapshot()');
              return (await steep(['status', '--check'])).code === 0;
            },
            HANG_MS,
            'status --check to find the subscription ready for a failover',
          );
        }

        // the failover: A stopped, B promoted while the application writes
        let primary: TestNode = a;
        const writer = startWriter(() => primary, 5_000_000);
        await writer.goesOn(50, 'the writer to commit on A');
        await a.stop('fast');
        await b.promote();
        primary = b;
        await writer.goesOn(50, 'the writer to commit on B');
        // docs/failover.md: the new primary in url, the old one among its standbys; apply re-points
        name(b, [a]);
        const judgedNow = await steep(['status']);
        const reinit = /steep reinit \S+ --full(?: --discard-past-fork)?/.exec(out(judgedNow))?.[0];
        const repointed = await steep(['apply', '--auto-approve']);
        expect(repointed.code, out(repointed)).toBe(0);
        if (reinit) {
          // 16: the slot did not survive the failover; the way out status names, as printed
          const r = await steep([...reinit.replace(/^steep /, '').split(' '), '--auto-approve']);
          expect(r.code, out(r)).toBe(0);
        }
        await eventually(
          async () =>
            (await b.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [SUB]))
              .length === 1,
          HANG_MS,
          'the subscriber to stream from B',
        );
        // steep reads B streaming and records its timeline
        await eventually(
          async () => {
            await steep(['status']);
            const rows = await sub.query('SELECT 1 FROM steep.stream_positions WHERE timeline = 2');
            return rows.length > 0;
          },
          HANG_MS,
          'steep to record the subscriber streaming from timeline 2',
        );

        // split brain: A starts again as a primary on timeline 1 and acknowledges 50 writes
        await a.restart('fast');
        const fork = await forkOf(b);
        const staleFrom = await currentLsn(a);
        const onA = startWriter(() => a, 7_000_000);
        await onA.goesOn(50, 'the application to write on A');
        const staleIds = await onA.stop();
        const staleTo = await currentLsn(a);
        expect(await lsnDiff(sub, staleFrom, fork)).toBeGreaterThan(0);

        // the file as re-pointed: A, among pub's standbys, is named stale, its writes past the fork at risk
        const staleAt = `127.0.0.1:${a.port}`;
        const seen = await steep(['status']);
        expect.soft(out(seen)).not.toContain("make it pub's connection");
        expect.soft(out(seen)).toContain(`standby ${staleAt} of pub is stale`);
        expect.soft(out(seen)).toContain(`past the fork at ${fork}`);
        expect.soft(out(seen)).toContain('copy what the application must keep of them to pub, shut it down');
        const bound = /it wrote (\d+) bytes of WAL past the fork at (\S+) \(up to (\S+)\)/.exec(out(seen));
        expect.soft(bound, out(seen)).not.toBeNull();
        if (bound) {
          expect.soft(bound[2]).toBe(fork);
          // every write acknowledged on A lies within what steep names
          expect.soft(await lsnDiff(sub, bound[3]!, staleTo)).toBeGreaterThanOrEqual(0);
          expect.soft(Number(bound[1])).toBe(await lsnDiff(sub, bound[3]!, fork));
        }
        const planned = await steep(['plan']);
        expect.soft(out(planned)).not.toContain("make it pub's connection");
        expect.soft(out(planned)).toContain(`standby ${staleAt} of pub is stale`);

        // a DBA who makes A pub's connection anyway (as steep advised before): refused, nothing points at A
        name(a, [b]);
        const wrongPlan = await steep(['plan']);
        expect.soft(wrongPlan.code, out(wrongPlan)).toBe(1);
        expect.soft(out(wrongPlan)).toContain(`node pub: its url ${staleAt} is stale`);
        expect.soft(wrongPlan.stdout).not.toContain(`port=${a.port}`);
        const wrongStatus = await steep(['status']);
        for (const r of [wrongPlan, wrongStatus]) {
          expect.soft(out(r)).not.toContain(`shut 127.0.0.1:${b.port} down`);
          expect.soft(out(r)).not.toMatch(/steep reinit \S+ --full/);
          expect
            .soft(out(r))
            .toContain(
              `make 127.0.0.1:${b.port} pub's url in steep.yaml again, then take the application's writes off it`,
            );
          expect
            .soft(out(r))
            .toContain(`copy what the application must keep of them to 127.0.0.1:${b.port}, shut it down`);
        }
        const wrongApply = await steep(['apply', '--auto-approve']);
        expect.soft(wrongApply.code, out(wrongApply)).toBe(1);
        // nothing is copied from it or compared with it either
        for (const args of [
          ['reinit', SUB, '--full', '--auto-approve'],
          ['verify', SUB],
        ]) {
          const r = await steep(args);
          expect.soft(r.code, out(r)).toBe(1);
          expect.soft(out(r)).toContain(`node pub: its url ${staleAt} is stale`);
        }
        // and with no standbys listed at all: what steep recorded of the subscriber streaming from
        // timeline 2 is the proof, the url's identity read all the same
        name(a, []);
        const alone = await steep(['plan']);
        expect.soft(alone.code, out(alone)).toBe(1);
        expect.soft(out(alone)).toContain(`node pub: its url ${staleAt} is stale`);
        expect.soft(out(alone)).toContain("which steep recorded pub's subscribers streaming from");
        expect.soft(alone.stdout).not.toContain(`port=${a.port}`);
        expect(await conninfoPort(sub)).toBe(String(b.port));

        // the refusal's way out, followed as printed: B pub's url again; the application's writes
        // off A (its writer stopped above); what it must keep of A's writes copied to B; A shut
        // down; listed as a standby again only once it follows B (here: not again)
        name(b, []);
        for (const id of staleIds)
          await b.query(
            `INSERT INTO public.${TABLE} (id, v) SELECT $1::bigint, md5($1::text) ON CONFLICT DO NOTHING`,
            [id],
          );
        await a.stop('fast');
        await writer.goesOn(50, 'the writer to commit on B after the split brain');
        const acked = await writer.stop();
        await waitCaughtUp(b, SUB);
        const ids = new Set(
          (
            await b.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE} WHERE id > 5000000`)
          ).map((r) => Number(r.id)),
        );
        const lost = acked.filter((id) => !ids.has(id)).length;
        const staleKept = staleIds.filter((id) => ids.has(id)).length;
        expect(lost).toBe(0);
        expect(staleKept).toBe(staleIds.length);
        expect(await digests(sub, [TABLE])).toEqual(await digests(b, [TABLE]));
        // healthy once the apply error of the failover itself (its worker losing A) is older than
        // status' window and the tables were compared since, as status --check prints it
        // (docs/status.md, "After errors")
        await untilHealthyVerified(steep);
        console.log(
          `stale ${version}: ${acked.length} ids acked (A then B), ${lost} lost on B; ${staleIds.length} acked on A after the fork at ${fork}, ` +
            `${await lsnDiff(sub, staleTo, fork).catch(() => NaN)} bytes of WAL; steep named ${bound?.[1] ?? 'no'} bytes up to ${bound?.[3] ?? '?'}; ${staleKept} kept on B`,
        );
      } finally {
        await cluster.stop();
      }
    },
    420_000,
  );
});
