import { describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { type IdWriter, idsGoOn, startIdWriter } from '../support/appWriter.js';
import { type CliResult, type Steep, steepWith, writeConfig } from '../support/cli.js';
import {
  faultVersions,
  startCluster,
  startStandby,
  type TestCluster,
  type TestNode,
} from '../support/cluster.js';
import { failoverFile } from '../support/failoverFile.js';
import { createTables, digests, fillTables, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, passwordEnv } from '../support/topologyFile.js';

/**
 * Issue 80 (nightly seed 180083): a publication added on a publisher whose last failover left a
 * subscription that reads it diverged. Before fa50751 apply created the publication, then waited
 * up to 600 s for that subscription's slot to confirm a position past it, which it never does
 * (steep tells a diverged subscription not to resume). Publisher pub with a physical standby,
 * subscriber sub, an application writing on pub and logging every id whose COMMIT returned. The
 * standby holds no copy of the subscription's slot (16: no failover slots; 17+: slot
 * synchronisation off), so once it is promoted the failover's verdict is diverged. steep.yaml
 * names it pub's url, as status advises, and adds a publication the subscription reads too:
 * apply refuses at once (failover-diverged), creating nothing. Each way out printed, followed
 * literally, converges: the publication created and read, and under writes every acknowledged
 * id on the subscriber, both sides equal.
 */

const TABLE = 'fw_items';
const MORE = 'fw_more';
const SUB = 'fw_sub';
const APP = { user: 'fw_app', password: 'fw-app-secret-1' };

function out(r: CliResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

interface Coded {
  code: string;
  message: string;
}

/** `steep plan --json`: its errors and warnings, with their codes. */
async function planJson(steep: Steep): Promise<{ errors: Coded[]; warnings: Coded[] }> {
  const r = await steep(['plan', '--json']);
  return JSON.parse(r.stdout) as { errors: Coded[]; warnings: Coded[] };
}

/** The failover's way out as a command steep printed, to run as printed. */
function wayOutIn(r: CliResult): string[] {
  const command = /steep reinit \S+ --full(?: --discard-past-fork)?/.exec(out(r))?.[0];
  expect(command, out(r)).toBeDefined();
  return [...command!.replace(/^steep /, '').split(' '), '--auto-approve'];
}

/** How the file reads fw_pub2: absent, declared and read by fw_sub, or declared only. */
type Second = 'absent' | 'read' | 'unread';

interface FailedOver {
  cluster: TestCluster;
  standby: TestNode;
  sub: TestNode;
  writer: IdWriter;
  steep: Steep;
  /** a ceiling only to catch a hang: a refusal comes at once */
  capped: Steep;
  /** steep.yaml names the promoted standby pub's url, the old primary its standby */
  repoint: (second: Second) => void;
}

/**
 * Applied, then the application writing on pub; pub stopped (its WAL all on the standby, so no
 * acknowledged id is lost with it), the standby promoted and written on.
 */
async function failedOver(version: PgMajor): Promise<FailedOver> {
  const cluster = await startCluster({ nodes: ['pub', 'sub'], version });
  try {
    const pub = cluster.node('pub');
    const sub = cluster.node('sub');
    const tables = [
      { name: TABLE, rows: 1000 },
      { name: MORE, rows: 500 },
    ];
    await createTables([pub, sub], tables);
    await fillTables(pub, tables);
    await pub.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
    await pub.query(`GRANT SELECT, INSERT ON public.${TABLE} TO ${APP.user}`);
    // a standby with no synced copy of the subscription's slot: its promotion loses it
    const standby = await startStandby(cluster, 'pub', {
      name: 'pub_standby',
      slot: 'pub_standby',
      settings: version >= 17 ? { sync_replication_slots: 'off' } : {},
    });
    const file = { path: '' };
    const name = (url: TestNode, standbys: TestNode[], second: Second) => {
      file.path = writeConfig(
        failoverFile({
          topology: 'diverged_wait',
          table: TABLE,
          publication: 'fw_pub',
          subscription: SUB,
          url,
          standbys,
          sub,
          more:
            second === 'absent' ? [] : [{ publication: 'fw_pub2', table: MORE, unread: second === 'unread' }],
        }),
      );
    };
    name(pub, [standby], 'absent');
    const env = { ...passwordEnv([sub]), PUB_PGPASSWORD: pub.password };
    const steep = steepWith({ config: () => file.path, env: () => env, timeoutMs: 120_000 });
    const capped = steepWith({ config: () => file.path, env: () => env, timeoutMs: 30_000 });
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, out(applied)).toBe(0);

    let primary = 'pub';
    let next = 5_000_000;
    const writer = startIdWriter(
      { pub, standby },
      APP,
      `public.${TABLE}`,
      () => primary,
      () => ++next,
    );
    await idsGoOn(writer, 'pub', 50);
    await pub.stop('fast');
    await standby.promote();
    primary = 'standby';
    await idsGoOn(writer, 'standby', 50);
    return {
      cluster,
      standby,
      sub,
      writer,
      steep,
      capped,
      repoint: (second) => name(standby, [pub], second),
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Whether fw_pub2 exists on the promoted node. */
async function secondMade(f: FailedOver): Promise<boolean> {
  return (await f.standby.query("SELECT 1 FROM pg_publication WHERE pubname = 'fw_pub2'")).length === 1;
}

/** Whether fw_sub's connection names the promoted node (apply re-pointed it). */
async function repointed(f: FailedOver): Promise<boolean> {
  const [r] = await f.sub.query<{ c: string }>(
    'SELECT subconninfo AS c FROM pg_subscription WHERE subname = $1',
    [SUB],
  );
  return r!.c.includes(`port=${f.standby.port}`);
}

/**
 * The apply refused at once (code failover-diverged, naming the subscription), fw_pub2 not made.
 * On fa50751^ it is made, and the apply waits past the ceiling.
 */
async function refusedAtOnce(f: FailedOver): Promise<CliResult> {
  const refused = await f.capped(['apply', '--auto-approve']);
  const created = await secondMade(f);
  expect.soft(refused.code, out(refused)).toBe(1);
  expect.soft(created, 'fw_pub2 on pub after the refused apply').toBe(false);
  expect(out(refused)).toContain(`subscription ${SUB} on sub is diverged since the failover of pub`);
  const planned = await planJson(f.steep);
  expect(planned.errors.map((e) => e.code)).toEqual(['failover-diverged']);
  expect(planned.warnings.map((w) => w.code)).toContain('failover.diverged');
  return refused;
}

/**
 * After the last apply: fw_sub reads fw_pub2 and streams it; the writer goes on, then stops;
 * every acknowledged id on sub, both tables equal on both sides. Returns the ids acknowledged.
 */
async function converged(f: FailedOver, version: PgMajor, what: string, started: number) {
  const [read] = await f.sub.query<{ p: string[] }>(
    'SELECT subpublications AS p FROM pg_subscription WHERE subname = $1',
    [SUB],
  );
  expect(read?.p).toEqual(['fw_pub', 'fw_pub2']);
  await f.standby.query(`INSERT INTO public.${MORE} (id, v) VALUES (900000001, 'after the way out')`);
  await eventually(
    async () => (await f.sub.query(`SELECT 1 FROM public.${MORE} WHERE id = 900000001`)).length === 1,
    HANG_MS,
    `a row of ${MORE} to stream to sub`,
  );
  await idsGoOn(f.writer, 'standby', 50);
  await f.writer.stop();
  const acked = [...f.writer.acknowledged().values()].flat();
  await waitCaughtUp(f.standby, SUB);
  const missing = await idsMissing(f.sub, `public.${TABLE}`, acked);
  expect(missing).toBe(0);
  expect(await digests(f.sub, [TABLE, MORE])).toEqual(await digests(f.standby, [TABLE, MORE]));
  console.log(
    `diverged publication wait ${version}, ${what}: ${acked.length} ids acknowledged ` +
      `(${f.writer.acknowledged().get('pub')?.length ?? 0} on the old primary), ${missing} missing on sub; ${(Date.now() - started) / 1000} s`,
  );
}

describe('a publication added after a failover left its reader diverged', () => {
  it.each(faultVersions())(
    '%i: re-pointed first: apply refuses at once and creates nothing; the way out as printed, then apply, converge with 0 acknowledged ids missing',
    async (version) => {
      const started = Date.now();
      const f = await failedOver(version);
      try {
        // the file names the promoted node, as status advises; the warning failover.diverged
        // names the way out; apply re-points (docs/failover.md)
        f.repoint('absent');
        const status = await f.steep(['status']);
        expect(status.stdout, out(status)).toMatch(/fw_sub\s+sub ← pub\s+diverged/);
        expect((await planJson(f.steep)).warnings.map((w) => w.code)).toContain('failover.diverged');
        const applied1 = await f.steep(['apply', '--auto-approve']);
        expect(applied1.code, out(applied1)).toBe(0);
        expect(await repointed(f)).toBe(true);

        // then it adds a publication the diverged subscription reads too
        f.repoint('read');
        const refused = await refusedAtOnce(f);
        expect(out(refused)).toContain("follow that warning's way out first, then run steep apply again");

        // the way out as printed: the publication the file adds is left, said, to the apply after it
        const reinit = await f.steep(wayOutIn(refused));
        expect(reinit.code, out(reinit)).toBe(0);
        expect(out(reinit)).toContain(
          'publication fw_pub2 of fw_sub in steep.yaml does not exist on pub yet, and steep apply refuses to make it until this reinit',
        );
        const applied = await f.steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        expect(await secondMade(f)).toBe(true);
        await converged(f, version, `refused in ${refused.ms} ms`, started);
      } finally {
        await f.cluster.stop();
      }
    },
    300_000,
  );

  it.each(faultVersions())(
    '%i: re-pointed and added in one edit: refused at once, naming the apply without it first; each step as printed converges',
    async (version) => {
      const started = Date.now();
      const f = await failedOver(version);
      try {
        f.repoint('read');
        const refused = await refusedAtOnce(f);
        // its connection still names the old primary, which only the apply this refusal stops re-points
        expect(await repointed(f)).toBe(false);
        expect(out(refused)).toContain(
          `leave fw_pub2 out of ${SUB}'s publications in steep.yaml, run steep apply, follow that warning's way out, then put it back and run steep apply again`,
        );

        // as printed: fw_pub2 out of fw_sub's publications, apply (it re-points, and makes fw_pub2 unread)
        f.repoint('unread');
        const applied1 = await f.steep(['apply', '--auto-approve']);
        expect(applied1.code, out(applied1)).toBe(0);
        expect(await repointed(f)).toBe(true);
        expect(await secondMade(f)).toBe(true);
        // that warning's way out, as printed then
        const reinit = await f.steep(wayOutIn(refused));
        expect(reinit.code, out(reinit)).toBe(0);
        // fw_pub2 back in its list, then apply
        f.repoint('read');
        const applied = await f.steep(['apply', '--auto-approve']);
        expect(applied.code, out(applied)).toBe(0);
        await converged(f, version, `one edit, refused in ${refused.ms} ms`, started);
      } finally {
        await f.cluster.stop();
      }
    },
    300_000,
  );
});
