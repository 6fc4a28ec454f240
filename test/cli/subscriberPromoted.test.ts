import { describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { idsGoOn, startIdWriter } from '../support/appWriter.js';
import { type CliResult, steepWith, writeConfig } from '../support/cli.js';
import { startCluster, startStandby, type TestNode } from '../support/cluster.js';
import { digests, idsMissing, stopReceiving, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * Issue 80 (a link's other direction after a failover, found by the nightly harness): a
 * subscriber's standby promoted in its place. The standby stopped receiving while the subscriber
 * went on applying and confirming to the publisher's slot; the subscriber then fails, its standby
 * is promoted and steep.yaml names it. Its origin stands where its replay stopped, the slot
 * resumes after what the old subscriber confirmed: the changes in between never arrive, and no
 * catalog says so. Before this, status called it `synchronized` (exit 0) with acknowledged ids
 * missing. Now status and drift call it `unverified`, naming the promotion and the verify that
 * decides; each printed step is followed literally under writes: the verify finds the rows
 * missing and names the reinit, after which status --check is clean, 0 acknowledged ids missing
 * and the table equal.
 */

const TABLE = 'sp_items';
const SUB = 'sp_sub';
const SCHEMA = `CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`;

function file(pub: TestNode, sub: TestNode, passwordOf: TestNode): string {
  return writeConfig(
    [
      'version: 1',
      'topology: subscriber-promoted',
      'nodes:',
      '  pub:',
      `    url: postgres://postgres@127.0.0.1:${pub.port}/app`,
      `    password: \${env:${passwordVar(pub)}}`,
      '  sub:',
      `    url: postgres://postgres@127.0.0.1:${sub.port}/app`,
      `    password: \${env:${passwordVar(passwordOf)}}`,
      'publications:',
      '  sp_pub:',
      '    node: pub',
      `    tables: [public.${TABLE}]`,
      'subscriptions:',
      `  ${SUB}:`,
      '    node: sub',
      '    from: pub',
      '    publications: [sp_pub]',
      '',
    ].join('\n'),
  );
}

const out = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** The command after `lead` in `text` (in backquotes or not). */
function printed(text: string, lead: RegExp): string {
  const m = new RegExp(String.raw`${lead.source}\x60?(steep [^\x60\n]+?)(?:\x60|\s*$|\s+\()`, 'm').exec(text);
  if (!m) throw new Error(`no command after ${lead} in:\n${text}`);
  return m[1]!;
}

const versions: PgMajor[] = [18, 16];

describe("a subscriber's standby promoted in its place", () => {
  it.each(versions)(
    '%i: unverified, naming the promotion and the verify; the verify finds the hole, its reinit closes it, 0 acknowledged ids missing',
    async (version) => {
      const cluster = await startCluster({ nodes: ['pub', 'sub'], version });
      try {
        const pub = cluster.node('pub');
        const sub = cluster.node('sub');
        for (const n of [pub, sub]) await n.query(SCHEMA);
        await pub.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
        const standby = await startStandby(cluster, 'sub', { name: 'sub_standby', slot: 'sub_standby' });
        const config = { path: file(pub, sub, sub) };
        const steep = steepWith({
          config: () => config.path,
          env: () => passwordEnv([pub, sub]),
          timeoutMs: 120_000,
        });
        const applied = await steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);

        let next = 5_000_000;
        const writer = startIdWriter(
          { pub },
          { user: 'postgres', password: pub.password },
          `public.${TABLE}`,
          () => 'pub',
          () => ++next,
        );
        try {
          await idsGoOn(writer, 'pub');
          // steep reads the subscriber on its timeline, and the standby replays that record
          const first = await steep(['status', '--check']);
          expect(first.code, out(first)).toBe(0);
          const [{ lsn } = { lsn: '' }] = await sub.query<{ lsn: string }>(
            'SELECT pg_current_wal_lsn()::text AS lsn',
          );
          await eventually(
            async () =>
              (
                await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [
                  lsn,
                ])
              )[0]?.ok === true,
            HANG_MS,
            'the standby to replay what the subscriber wrote up to this reading',
          );

          // the standby left behind; the subscriber applies and confirms more, then fails
          await stopReceiving(standby);
          await idsGoOn(writer, 'pub', 200);
          await waitCaughtUp(pub, SUB);
          await sub.stop('immediate');
          await standby.promote();
          config.path = file(pub, standby, sub);

          // the hole is real: the promoted subscriber streams again, without what its old server confirmed
          await idsGoOn(writer, 'pub', 50);
          await waitCaughtUp(pub, SUB);
          const acked = () => writer.acknowledged().get('pub') ?? [];
          expect(await idsMissing(standby, `public.${TABLE}`, acked())).toBeGreaterThan(0);

          const check = await steep(['status', '--check']);
          expect(check.code, out(check)).toBe(2);
          expect(check.stdout).toMatch(
            /sub was promoted: steep read it on timeline 1 from .* and found it on timeline 2/,
          );
          const json = await steep(['status', '--json']);
          const s = (
            JSON.parse(json.stdout) as { subscriptions: { name: string; state: string }[] }
          ).subscriptions.find((x) => x.name === SUB);
          expect(s?.state, json.stdout).toBe('unverified');
          const drift = await steep(['drift']);
          expect(drift.code, out(drift)).toBe(2);
          expect(drift.stdout).toContain(SUB);

          // as printed: the verify, then the repair it names
          const verify = printed(check.stdout, /compare them: /);
          expect(verify).toBe(`steep verify ${SUB}`);
          const verified = await steep(verify.split(' ').slice(1));
          expect(verified.code, out(verified)).toBe(2);
          const repair = printed(out(verified), /repair with: /);
          const repaired = await steep([...repair.split(' ').slice(1), '--auto-approve']);
          expect(repaired.code, out(repaired)).toBe(0);
          await idsGoOn(writer, 'pub', 50);
          await eventually(
            async () => (await steep(['status', '--check'])).code === 0,
            HANG_MS,
            'status --check to be clean after the repair',
          );
        } finally {
          await writer.stop();
        }
        await waitCaughtUp(pub, SUB);
        const acked = writer.acknowledged().get('pub') ?? [];
        expect(acked.length).toBeGreaterThan(300);
        expect(await idsMissing(standby, `public.${TABLE}`, acked)).toBe(0);
        expect(await digests(standby, [TABLE])).toEqual(await digests(pub, [TABLE]));
      } finally {
        await cluster.stop();
      }
    },
  );
});
