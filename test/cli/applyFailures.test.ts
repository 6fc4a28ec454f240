import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/sandbox/ports.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { dropReplication } from '../support/reset.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A step that fails mid-apply, through the CLI against two real PostgreSQL 18 nodes: apply
 * stops, says what completed, what failed (PostgreSQL's message) and what did not run, records
 * the failure in apply_log; once the cause is fixed, apply converges and the plan is empty.
 * Also the JSON event log (`--log-format json`) and `--json` output of such runs.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const TABLES = `
  CREATE TABLE public.f_orders (id bigint PRIMARY KEY, note text);
  CREATE TABLE public.f_locked (id bigint PRIMARY KEY, note text);
`;

function config(): string {
  return `${[
    'version: 1',
    'topology: apply-failures',
    'settings:',
    '  lockTimeout: 1s',
    nodesYaml(cluster().nodes),
    'publications:',
    '  a_pub:',
    '    node: east',
    '    tables: [public.f_orders]',
    '  b_pub:',
    '    node: east',
    '    tables: [public.f_locked]',
    'subscriptions:',
    '  west_a:',
    '    node: west',
    '    from: east',
    '    publications: [a_pub]',
    '  west_b:',
    '    node: west',
    '    from: east',
    '    publications: [b_pub]',
  ].join('\n')}\n`;
}

const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });

/**
 * Hold a lock that CREATE PUBLICATION's SHARE UPDATE EXCLUSIVE waits for, in an open
 * transaction; returns the session. EXCLUSIVE, not ACCESS EXCLUSIVE: that one is WAL-logged,
 * so it takes a transaction id, and creating a logical slot waits for every running
 * transaction with one — CREATE SUBSCRIPTION would wait for the holder, with no lock_timeout.
 */
async function lockTable(table: string): Promise<pg.Client> {
  const holder = await cluster().node('east').client();
  await holder.query("SET application_name = 'a long report'");
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
  return holder;
}

interface Event {
  timestamp: string;
  level: string;
  event: string;
  [k: string]: unknown;
}

function jsonLines(text: string): Event[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Event;
      } catch {
        throw new Error(`stderr line is not JSON: ${l}`);
      }
    });
}

/** Drop what the tests made, so each starts from bare tables. */
async function reset(): Promise<void> {
  await dropReplication(cluster().nodes, { truncate: ['public.f_orders', 'public.f_locked'] });
}

describe('a step that fails mid-apply', () => {
  let path: string;
  let holder: pg.Client | undefined;

  beforeAll(async () => {
    for (const n of cluster().nodes) await n.query(TABLES);
    path = writeConfig(config());
  });

  afterEach(async () => {
    await holder?.end().catch(() => {});
    holder = undefined;
    await reset();
  });

  it('stops, reports completed / failed / not run, logs the failure; a re-run converges', async () => {
    holder = await lockTable('public.f_locked');
    const r = await steep(['apply', '--auto-approve'], path);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/failed: publication\.b_pub on east: canceling statement due to lock timeout/);
    const completed = r.stderr.match(/^completed: (.*)$/m)?.[1] ?? '';
    expect(completed).toContain('node.east');
    expect(completed).toContain('publication.a_pub');
    const notRun = r.stderr.match(/^not run: (.*)$/m)?.[1] ?? '';
    expect(notRun).toContain('subscription.west_b');
    expect(completed).not.toContain('publication.b_pub');
    expect(r.stderr).toContain('Run `steep apply` again once the cause is fixed');

    const east = cluster().node('east');
    const log = await east.query<{ address: string; status: string; error: string | null }>(
      'SELECT address, status, error FROM steep.apply_log ORDER BY started_at',
    );
    const failed = log.find((l) => l.address === 'publication.b_pub');
    expect(failed?.status).toBe('failed');
    expect(failed?.error).toContain('lock timeout');
    expect(log.find((l) => l.address === 'publication.a_pub')?.status).toBe('completed');
    expect(await east.query("SELECT 1 FROM pg_publication WHERE pubname = 'b_pub'")).toHaveLength(0);

    // the plan from here is exactly what did not happen
    const plan = await steep(['plan', '--json'], path);
    const addresses = JSON.parse(plan.stdout).steps.map((s: { address: string }) => s.address);
    expect(addresses).toContain('publication.b_pub');
    expect(addresses).toContain('subscription.west_b');
    expect(addresses).not.toContain('publication.a_pub');
    expect(addresses).not.toContain('node.east');

    await holder.query('ROLLBACK');
    const again = await steep(['apply', '--auto-approve'], path);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    const empty = await steep(['plan', '--detailed-exitcode'], path);
    expect(empty.code, empty.stdout).toBe(0);

    await east.query("INSERT INTO public.f_locked VALUES (1, 'after the fix')");
    await eventually(
      async () => (await cluster().node('west').query('SELECT 1 FROM public.f_locked')).length === 1,
      HANG_MS,
      'a row through the publication that failed first',
    );
    const slots = await east.query<{ slot_name: string }>(
      'SELECT slot_name FROM pg_replication_slots ORDER BY 1',
    );
    expect(slots.map((s) => s.slot_name)).toEqual(['west_a', 'west_b']);
  });

  it('--log-format json: one JSON object per stderr line, step_failed included; --json keeps stdout to the document', async () => {
    holder = await lockTable('public.f_locked');
    const r = await steep(['apply', '--auto-approve', '--json', '--log-format', 'json'], path);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.failed.map((f: { address: string }) => f.address)).toEqual(['publication.b_pub']);
    expect(doc.failed[0].error).toContain('lock timeout');
    expect(doc.notRun).toContain('subscription.west_b');
    expect(doc.completed).toContain('publication.a_pub');

    const events = jsonLines(r.stderr);
    for (const e of events) {
      expect(Number.isNaN(Date.parse(e.timestamp)), JSON.stringify(e)).toBe(false);
      expect(['info', 'warn', 'error']).toContain(e.level);
      expect(typeof e.event).toBe('string');
    }
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('apply.started');
    expect(names).toContain('apply.step_started');
    expect(names).toContain('apply.step_completed');
    const failed = events.find((e) => e.event === 'apply.step_failed');
    expect(failed).toMatchObject({ level: 'error', node: 'east', address: 'publication.b_pub' });
    expect(String(failed?.message)).toContain('lock timeout');
    expect(events.find((e) => e.event === 'apply.completed')?.level).toBe('error');

    await holder.query('ROLLBACK');
    const ok = await steep(['apply', '--auto-approve', '--json', '--log-format', 'json'], path);
    expect(ok.code, ok.stderr).toBe(0);
    const okDoc = JSON.parse(ok.stdout);
    expect(okDoc.failed).toEqual([]);
    expect(okDoc.completed).toContain('subscription.west_b');
    const okEvents = jsonLines(ok.stderr);
    const started = okEvents.filter((e) => e.event === 'apply.step_started');
    const completedEvents = okEvents.filter((e) => e.event === 'apply.step_completed');
    expect(started.length).toBe(okDoc.completed.length);
    expect(completedEvents.length).toBe(okDoc.completed.length);
    for (const e of completedEvents) expect(typeof e.duration_ms).toBe('number');
    expect(okEvents.at(-1)?.event).toBe('apply.completed');
    expect(okEvents.at(-1)?.level).toBe('info');
  });

  it('a publisher the subscriber cannot reach, or whose password it gets wrong: apply stops before any step, naming both nodes and the fix', async () => {
    const port = await findFreePort();
    const east = cluster().node('east');
    const west = cluster().node('west');
    const nothingMade = async () => {
      expect(await east.query('SELECT pubname FROM pg_publication')).toEqual([]);
      expect(await west.query('SELECT 1 FROM pg_subscription')).toHaveLength(0);
      expect(await east.query('SELECT 1 FROM pg_replication_slots')).toHaveLength(0);
    };
    // steep reaches east, but subscribers are told to use a port nothing listens on
    const broken = writeConfig(
      config().replace(
        `    url: postgres://postgres@127.0.0.1:${east.port}/app\n`,
        `    url: postgres://postgres@127.0.0.1:${east.port}/app\n    replicationUrl: postgres://127.0.0.1:${port}/app\n`,
      ),
    );
    const r = await steep(['apply', '--auto-approve', '--parallel', '1'], broken);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(
      /west cannot connect to east \(its replicationUrl\) as subscription west_a would: could not connect to the publisher: .*; nothing was changed/,
    );
    expect(r.stderr).toContain("west cannot reach east's host and port");
    await nothingMade();

    // a replication role whose password steep.yaml gets wrong
    await east.query("CREATE ROLE f_repl LOGIN REPLICATION PASSWORD 'f-right'");
    try {
      const wrong = writeConfig(
        config().replace(
          `    url: postgres://postgres@127.0.0.1:${east.port}/app\n`,
          `    url: postgres://postgres@127.0.0.1:${east.port}/app\n    replicationUrl: postgres://f_repl:f-wrong@127.0.0.1:${east.port}/app\n`,
        ),
      );
      const refused = await steep(['apply', '--auto-approve'], wrong);
      const said = `${refused.stdout}\n${refused.stderr}`;
      expect(refused.code, said).toBe(1);
      expect(refused.stderr).toMatch(/password authentication failed for user "f_repl"/);
      expect(refused.stderr).toContain(`east refused f_repl's password`);
      expect(said).not.toContain('f-wrong');
      await nothingMade();
      // the password is not in west's server log either (the probe ran at log_min_error_statement panic)
      expect(readFileSync(join(west.dataDir, 'server.log'), 'utf8')).not.toContain('f-wrong');
    } finally {
      await east.query('DROP ROLE f_repl');
    }

    // fixed (the replicationUrl removed): converges, plan empty
    const ok = await steep(['apply', '--auto-approve'], path);
    expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0);
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
  });

  it('text progress without a TTY: plain lines, and no JSON on stderr', async () => {
    const r = await steep(['apply', '--auto-approve'], path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Apply complete');
    expect(r.stderr.trim()).toBe('');
    const plan = await steep(['plan', '--json'], path);
    expect(JSON.parse(plan.stdout).steps).toEqual([]);
  });
});
