import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgMajor } from '../../src/sandbox/binaries.js';
import { LocalServer } from '../../src/sandbox/localServer.js';
import { findFreePort } from '../../src/sandbox/ports.js';
import { chownToServerUser } from '../../src/sandbox/serverUser.js';
import { idsGoOn, startIdWriter } from '../support/appWriter.js';
import { steepWith, writeConfig } from '../support/cli.js';
import {
  faultVersions,
  startCluster,
  startStandby,
  type TestCluster,
  type TestNode,
} from '../support/cluster.js';
import { digests, waitCaughtUp } from '../support/replicationData.js';
import { eventually, passwordEnv, passwordVar } from '../support/topologyFile.js';

/**
 * `init: { method: physical }` (issue 64): the subscriber is a physical clone of the publisher,
 * and steep reads the position it holds from the clone itself (its system identifier, and where
 * its timeline forked from the publisher's), never from what was typed. A writer logs every
 * acknowledged id on the publisher throughout. A clone promoted before the prepared slot's LSN
 * is refused (the changes between would be in neither), and so is a --lsn that disagrees with
 * the fork; restoring again and applying again corrects it: every acknowledged id arrives.
 */

const TABLE = 'phys_items';
const SUB = 'ph_sub';

function fileFor(pa: TestNode, sub: TestNode | null): string {
  return [
    'version: 1',
    'topology: physical',
    'nodes:',
    '  pa:',
    `    url: postgres://postgres@127.0.0.1:${pa.port}/app`,
    `    password: \${env:${passwordVar(pa)}}`,
    ...(sub
      ? [
          '  pb:',
          `    url: postgres://postgres@127.0.0.1:${sub.port}/app`,
          `    password: \${env:${passwordVar(pa)}}`,
        ]
      : []),
    'publications:',
    `  ph_pub: { node: pa, tables: [public.${TABLE}] }`,
    ...(sub
      ? [
          'subscriptions:',
          `  ${SUB}: { node: pb, from: pa, publications: [ph_pub], init: { method: physical } }`,
        ]
      : []),
    '',
  ].join('\n');
}

/** A writer inserting on pa, logging every acknowledged id. */
function idWriter(pa: TestNode) {
  let nextId = 1_000_000;
  return startIdWriter(
    { pa },
    { user: 'postgres', password: pa.password },
    `public.${TABLE}`,
    () => 'pa',
    () => ++nextId,
  );
}

/** Every id acknowledged on pa is on the clone, and the table holds the same rows on both. */
async function expectEveryAcked(pa: TestNode, clone: TestNode, acked: number[]): Promise<void> {
  expect(acked.length).toBeGreaterThan(0);
  const held = new Set(
    (await clone.query<{ id: string }>(`SELECT id::text AS id FROM public.${TABLE}`)).map((r) =>
      Number(r.id),
    ),
  );
  const lost = acked.filter((id) => !held.has(id));
  expect(lost, `${lost.length} of ${acked.length} acknowledged ids never reached the clone`).toEqual([]);
  expect(await digests(clone, [TABLE])).toEqual(await digests(pa, [TABLE]));
}

async function forkedAt(node: TestNode): Promise<boolean> {
  return (await node.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false;
}

describe.each(faultVersions())('init method physical on PostgreSQL %i', (version) => {
  let cluster: TestCluster;
  let pa: TestNode;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: ['pa'], version });
    pa = cluster.node('pa');
    await pa.query(`CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
    await pa.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses a clone that forked before the slot, and a --lsn against the fork; a clone restored again is proven and complete', async () => {
    const env = () => passwordEnv([pa]);
    const onPublisher = steepWith({ config: () => writeConfig(fileFor(pa, null)), env });
    const first = await onPublisher(['apply', '--auto-approve']);
    expect(first.code, first.stderr).toBe(0);

    const writer = idWriter(pa);
    try {
      // a standby that stops receiving before the slot is made: promoted, it forks before the slot's LSN
      const early = await startStandby(cluster, 'pa', { name: 'pb_early', slot: 'early_phys' });
      await eventually(
        async () => (await early.query('SELECT 1 FROM pg_stat_wal_receiver')).length > 0,
        undefined,
        'the early standby to stream',
      );
      await early.query("ALTER SYSTEM SET primary_conninfo = ''");
      await early.query('SELECT pg_reload_conf()');
      await eventually(
        async () => (await early.query('SELECT 1 FROM pg_stat_wal_receiver')).length === 0,
        undefined,
        'the early standby to stop receiving',
      );
      const onEarly = steepWith({ config: () => writeConfig(fileFor(pa, early)), env });
      const prepared = await onEarly(['init', 'prepare', SUB, '--json']);
      expect(prepared.code, prepared.stderr).toBe(0);
      const { lsn, clone } = JSON.parse(prepared.stdout) as { lsn: string; clone: string[] };
      expect(clone.join('\n')).toContain('pg_basebackup');
      await early.promote();
      await eventually(() => forkedAt(early), undefined, 'the early clone to be promoted');
      const refused = await onEarly(['apply', '--auto-approve', '--allow-destroy']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `holds pa's changes up to \\S+ \\(where its timeline forked from pa's\\), before slot ${SUB}'s LSN ${lsn}`,
        ),
      );
      expect((await early.query(`SELECT 1 FROM pg_subscription WHERE subname = '${SUB}'`)).length).toBe(0);

      // restored again, after the slot: the clone forks past its LSN
      const good = await startStandby(cluster, 'pa', { name: 'pb_good', slot: 'good_phys' });
      await good.promote();
      await eventually(() => forkedAt(good), undefined, 'the clone to be promoted');
      const onGood = steepWith({ config: () => writeConfig(fileFor(pa, good)), env });
      const typed = await onGood(['apply', '--auto-approve', '--allow-destroy', '--lsn', `${SUB}=${lsn}`]);
      expect(typed.code).toBe(1);
      expect(typed.stderr).toMatch(
        new RegExp(
          `--lsn ${lsn} for subscription ${SUB} disagrees with where pb forked from pa: \\S+, as its timeline history says`,
        ),
      );
      const plan = await onGood(['plan']);
      expect(plan.stdout).toMatch(
        /pb is a physical clone of pa \(system identifier \d+\) whose timeline 2 forked from pa's timeline 1 at/,
      );
      expect(plan.stdout).toContain(
        'a copy of publication ph_pub of pa, whose system identifier pb has on another server',
      );
      const apply = await onGood(['apply', '--auto-approve', '--allow-destroy']);
      expect(apply.code, `${apply.stdout}${apply.stderr}`).toBe(0);
      // writes after the subscription is made, for it to stream
      await idsGoOn(writer, 'pa');
      const again = await onGood(['plan', '--detailed-exitcode']);
      expect(again.code, again.stdout).toBe(0);
      await writer.stop();
      await waitCaughtUp(pa, SUB);
      await expectEveryAcked(pa, good, writer.acknowledged().get('pa') ?? []);
    } finally {
      await writer.stop();
    }
  });
});

/**
 * The clone made the way `steep init prepare` prints it, followed literally: its first clone
 * line (pg_basebackup … and the recovery setup) run in a shell with DATADIR replaced, the clone
 * started as it is, then `steep apply`. The embedded packages ship no pg_basebackup, and a
 * pg_basebackup refuses a server of a newer major, so this runs on the major of the
 * pg_basebackup installed (Debian's: 15) and is skipped without one. A writer logs every
 * acknowledged id on the publisher throughout.
 */
function basebackupMajor(): PgMajor | null {
  try {
    const v = execFileSync('pg_basebackup', ['--version'], { encoding: 'utf8' });
    const major = Number(/(\d+)(\.\d+)?/.exec(v)?.[1]);
    return major >= 14 && major <= 18 ? (major as PgMajor) : null;
  } catch {
    return null;
  }
}

const major = basebackupMajor();

describe.skipIf(major === null)('init method physical, the printed pg_basebackup line followed', () => {
  let cluster: TestCluster;
  let pa: TestNode;
  let clone: LocalServer | null = null;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: ['pa'], version: major! });
    pa = cluster.node('pa');
    await pa.query(`CREATE TABLE public.${TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
    await pa.query(`INSERT INTO public.${TABLE} SELECT g, md5(g::text) FROM generate_series(1, 2000) g`);
  });
  afterAll(async () => {
    await clone?.destroy();
    await cluster?.stop();
  });

  it('the clone made by the printed line starts, is promoted past the slot and streams every acknowledged id', async () => {
    const env = () => passwordEnv([pa]);
    const first = await steepWith({ config: () => writeConfig(fileFor(pa, null)), env })([
      'apply',
      '--auto-approve',
    ]);
    expect(first.code, first.stderr).toBe(0);

    const port = await findFreePort();
    const steep = steepWith({ config: () => writeConfig(fileFor(pa, { port } as TestNode)), env });
    const writer = idWriter(pa);
    try {
      const prepared = await steep(['init', 'prepare', SUB, '--json']);
      expect(prepared.code, prepared.stderr).toBe(0);
      const { clone: lines } = JSON.parse(prepared.stdout) as { clone: string[] };
      const line = lines.find((l) => l.startsWith('pg_basebackup '));
      expect(line, lines.join('\n')).toBeDefined();
      const dataDir = path.join(path.dirname(pa.dataDir), 'pb_basebackup');
      // as the DBA runs it, the password from the environment (steep never prints it)
      execFileSync('bash', ['-c', line!.replaceAll('DATADIR', dataDir)], {
        env: { ...process.env, PGPASSWORD: pa.password },
        stdio: 'pipe',
      });
      // the server runs as the postgres user here; the DBA would have run pg_basebackup as it
      await chownToServerUser(dataDir, true);
      clone = await LocalServer.existing({
        dataDir,
        name: 'pb',
        port,
        user: 'postgres',
        password: pa.password,
        database: 'app',
        auth: 'scram-sha-256',
        standby: true,
      });
      await clone!.start();
      const inRecovery = async () => {
        const c = await clone!.adminClient('app');
        try {
          return (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
        } finally {
          await c.end();
        }
      };
      await eventually(async () => !(await inRecovery()), undefined, 'the clone to be promoted');

      // started as printed, with no logical replication worker: the first apply asks for them
      const first = await steep(['apply', '--auto-approve', '--allow-destroy']);
      expect(first.code, `${first.stdout}${first.stderr}`).toBe(0);
      expect(`${first.stdout}${first.stderr}`).toContain(
        'then run ALTER SYSTEM RESET max_logical_replication_workers on pb, restart it, and apply again',
      );
      const admin = await clone!.adminClient('app');
      try {
        await admin.query('ALTER SYSTEM RESET max_logical_replication_workers');
      } finally {
        await admin.end();
      }
      await clone!.stop('fast');
      await clone!.start();
      const apply = await steep(['apply', '--auto-approve', '--allow-destroy']);
      expect(apply.code, `${apply.stdout}${apply.stderr}`).toBe(0);
      // writes after the subscription is made, for it to stream
      await idsGoOn(writer, 'pa');
      await writer.stop();
      await waitCaughtUp(pa, SUB);
      const pb = {
        name: 'pb',
        query: async <T>(sql: string) => {
          const c = await clone!.adminClient('app');
          try {
            return (await c.query(sql)).rows as T[];
          } finally {
            await c.end();
          }
        },
      } as unknown as TestNode;
      await expectEveryAcked(pa, pb, writer.acknowledged().get('pa') ?? []);
    } finally {
      await writer.stop();
    }
  });
});
