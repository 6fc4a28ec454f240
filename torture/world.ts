import { writeFileSync } from 'node:fs';
import type { PgMajor } from '../src/sandbox/binaries.js';
import { roleClient, writeLoop } from '../test/support/appWriter.js';
import { type CliResult, runSteep, writeConfig } from '../test/support/cli.js';
import { startCluster, startStandby, type TestCluster, type TestNode } from '../test/support/cluster.js';
import { nodesYaml, passwordEnv } from '../test/support/topologyFile.js';
import type { Operation } from './operations.js';
import { type Row, RowLedger, type RowTable } from './rows.js';
import {
  type Blackout,
  type Family,
  familyChurn,
  familyInsert,
  LSN,
  markOf,
  type SlowWrite,
  timedWrite,
  WalMarks,
  type Write,
  type WriterError,
} from './writes.js';

/**
 * The world one seeded sequence runs in: a publisher `pa` and a subscriber `pb` (on 17+ with
 * failover ops, a physical standby `pa_standby` of pa declared as its standby), the steep.yaml a
 * user keeps for them, and the application: role `torture_app` (not a superuser) writing in
 * autocommit on the node it is pointed at — client-side ids into `t_ids` (each acknowledged id
 * logged), and a parent with an identity column plus a child with a foreign key to it — and its
 * side doors to `t_ids` (a column-level grant, a SECURITY DEFINER function), ids counted alike.
 * A third node `pc`, with a writer of its own, only where an operation starts it (`startThird`, inbound.ts).
 */

export const APP = { user: 'torture_app', password: 'torture-app-secret-1' };
export const TABLES = ['t_ids', 't_parent', 't_child'];
/** the keyed tables in the order their rows may be inserted (parents first) */
export const KEYED_LOAD_ORDER = ['t_parent', 't_ids', 't_child'];
/**
 * a table without a key (REPLICA IDENTITY FULL, 500 rows on pa), out of the subscription until
 * table-leave-rejoin first picks it (`FileState.keyless`): a copy on top of its rows doubles them
 */
export const KEYLESS = 't_keyless';
/** the table of the link `l1` (operation link-init-none): both nodes write it */
export const LINK = 'l1';
export const LINK_TABLE = 't_link';
/**
 * the application of the link (operation link-init-none): its own login role, writing t_link on
 * both nodes, so a switchover's fence or its rollback of the main application's role (APP) on a
 * node does not lock it out there
 */
export const LINK_APP = { user: 'torture_link_app', password: 'torture-link-secret-1' };
/**
 * the application's side doors to t_ids (issue 61: a switchover's fence once missed them): a role
 * with only a column-level grant, and one that may only call a SECURITY DEFINER function owned by
 * the superuser that inserts the row. Their ids are the application's, acknowledged and counted
 * the same way.
 */
export const SIDE_COLUMN = { user: 'torture_column', password: 'torture-column-secret-1' };
export const SIDE_DEFINER = { user: 'torture_definer', password: 'torture-definer-secret-1' };
export const FIRST_CLIENT_ID = 1_000_000;

export type InitMethod = 'snapshot' | 'own-copy' | 'two-phase';

export interface FileState {
  /** the publications the subscription reads (more than one mid-way through a rename) */
  pubs: string[];
  sub: string;
  subRenamedFrom?: string;
  method: InitMethod;
  existingData?: 'truncate';
  /** `enabled: false`, as README says to set after a switchover: the writes went the other way */
  disabled?: boolean;
  /** the node steep.yaml names as the publisher (after a failover: the promoted standby) */
  publisher: 'pa' | 'pa_standby';
  standby?: 'pa' | 'pa_standby';
  /** `options.disableOnError: true` (operation disable-on-error) */
  disableOnError?: boolean;
  /** `schemaSync: auto` on the subscription (the column operations: steep follows a rename) */
  schemaSyncAuto?: boolean;
  /** t_keyless is in the publications (table-leave-rejoin picked it once: it joined) */
  keyless?: boolean;
  /** tables taken out of the publications in steep.yaml (operation table-leave-rejoin, mid-way) */
  tablesOut?: string[];
  /** the link l1 between pa and pb over t_link, with this init method */
  link?: 'none' | 'merge';
}

export class World {
  readonly nodes: Record<string, TestNode>;
  file: FileState;
  path = '';
  /** the node the application is pointed at: the one steep calls primary */
  primary: string;
  /** acknowledged ids of writers already stopped, by node */
  private acked = new Map<string, number[]>();
  /** ids the application lost where PostgreSQL must lose them, and steep said so */
  forgiven = new Set<number>();
  private nextId = FIRST_CLIENT_ID;
  private writers: Array<{ ids: Map<string, number[]>; stop: () => Promise<void> }> = [];
  /** the families (t_parent and t_child rows) the application wrote, each with its acknowledged writes */
  private readonly ledger: Family[] = [];
  /** parents (and their child) the application lost where PostgreSQL must lose them, and steep said so */
  forgivenFamilies = new Set<number>();
  /** the application's rows of t_ids, t_keyless and t_link, each with its acknowledged writes (rows.ts) */
  readonly rowLedger = new RowLedger();
  /** rows (`markOf`) the application lost where PostgreSQL must lose them, and steep said so */
  forgivenRows = new Set<string>();
  /** every failed write of the application, in order (the oracle reads them: availability) */
  readonly writerErrors: WriterError[] = [];
  /** the blackouts operations declared */
  readonly blackouts: Blackout[] = [];
  /** writes of the application (acknowledged or failed) that took over SLOW_WRITE_MS, until the oracle looks */
  readonly slowWrites: SlowWrite[] = [];
  /** where each acknowledged id stood in its node's WAL */
  readonly walMarks = new WalMarks();
  /** subscriptions steep.yaml does not declare that an operation made and expects (a switchover's way back) */
  expectedStrays = new Set<string>();
  readonly log: string[] = [];
  /** an operation the last one requires next (a switchover's rollback) */
  followUp: Operation | null = null;
  /** the third node pc and its writer, started by the operation that needs it (`startThird`, inbound.ts) */
  third: { cluster: TestCluster; node: TestNode; acked: number[]; stop: () => Promise<void> } | null = null;
  /**
   * subscriptions from pc into pa or pb (INBOUND): not the file's; the operation that made them
   * judges their rows (every id pc acknowledged), the oracle lists them as neither declared nor strays
   */
  readonly inbound = new Set<string>();

  constructor(
    readonly version: PgMajor,
    readonly cluster: TestCluster,
    method: InitMethod,
    readonly standby: (TestNode & { promote(): Promise<void> }) | null,
  ) {
    this.nodes = Object.fromEntries(cluster.nodes.map((n) => [n.name, n]));
    if (standby) this.nodes[standby.name] = standby;
    this.file = {
      pubs: ['tp1'],
      sub: 'ts1',
      method,
      publisher: 'pa',
      standby: standby ? 'pa_standby' : undefined,
    };
    this.primary = 'pa';
    this.writeFile();
  }

  node(name: string): TestNode {
    const n = this.nodes[name];
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  get publisher(): TestNode {
    return this.node(this.file.publisher);
  }

  get subscriber(): TestNode {
    return this.node('pb');
  }

  private readonly born = Date.now();

  say(line: string): void {
    line = `${((Date.now() - this.born) / 1000).toFixed(1).padStart(6)}s ${line}`;
    this.log.push(line);
    if (process.env.TORTURE_DEBUG) console.log(`[torture] ${line}`);
  }

  /** steep.yaml as the user keeps it now */
  yaml(over: Partial<FileState> = {}): string {
    const f = { ...this.file, ...over };
    const pub = this.node(f.publisher);
    const init = [
      '    init:',
      `      method: ${f.method === 'own-copy' ? 'snapshot' : f.method}`,
      ...(f.method === 'own-copy' ? ['      parallel: 2'] : []),
      ...(f.existingData ? [`      existingData: ${f.existingData}`] : []),
    ];
    return [
      'version: 1',
      'topology: torture',
      'nodes:',
      '  pa:',
      `    url: postgres://postgres@127.0.0.1:${pub.port}/app`,
      `    password: \${env:PA_PGPASSWORD}`,
      ...(f.standby
        ? ['    standbys:', `      - postgres://postgres@127.0.0.1:${this.node(f.standby).port}/app`]
        : []),
      nodesYaml([this.subscriber]).replace('nodes:\n', ''),
      'settings:',
      '  lockTimeout: 2s',
      'publications:',
      ...f.pubs.flatMap((p) => [
        `  ${p}:`,
        '    node: pa',
        `    tables: [${[...TABLES, ...(f.keyless ? [KEYLESS] : [])]
          .filter((t) => !f.tablesOut?.includes(t))
          .map((t) => `public.${t}`)
          .join(', ')}]`,
      ]),
      'subscriptions:',
      `  ${f.sub}:`,
      '    node: pb',
      '    from: pa',
      `    publications: [${f.pubs.join(', ')}]`,
      ...(f.subRenamedFrom ? [`    renamedFrom: ${f.subRenamedFrom}`] : []),
      ...(f.disabled ? ['    enabled: false'] : []),
      ...(f.schemaSyncAuto ? ['    schemaSync: auto'] : []),
      ...(f.disableOnError ? ['    options:', '      disableOnError: true'] : []),
      ...init,
      ...(f.link
        ? [
            'links:',
            `  ${LINK}:`,
            '    nodes: [pa, pb]',
            `    tables: [public.${LINK_TABLE}]`,
            f.link === 'merge'
              ? '    init: { method: merge, strategy: "prefer:pa" }'
              : `    init: { method: ${f.link} }`,
          ]
        : []),
      '',
    ].join('\n');
  }

  writeFile(): void {
    if (this.path === '') this.path = writeConfig(this.yaml());
    else writeFileSync(this.path, this.yaml());
  }

  env(): Record<string, string> {
    const env = passwordEnv(Object.values(this.nodes));
    // the file's node `pa` is whichever node is the publisher of the moment
    return { ...env, PA_PGPASSWORD: this.publisher.password };
  }

  /** steep as the user runs it, on this world's file */
  async steep(args: string[], timeoutMs = 180_000): Promise<CliResult> {
    const r = await runSteep([...args, '-c', this.path], { env: this.env(), timeoutMs });
    this.say(`steep ${args.join(' ')} → ${r.code}`);
    return r;
  }

  /**
   * The application: client-side sequential ids into t_ids (each id whose COMMIT returned logged
   * by the node that acknowledged it), and a parent row with a child through its foreign key;
   * each failed write recorded with its node, SQLSTATE and time.
   */
  startWriters(): void {
    const ids = new Map<string, number[]>();
    const failed = (code: string) => this.writerErrors.push({ node: this.primary, code, at: Date.now() });
    const connect = (at: string) => roleClient(this.node(at), APP);
    // each write timed, failed ones too: one that blocks is judged by how long (the oracle)
    const timed = (write: Write) => timedWrite(write, (w) => this.slowWrites.push(w));
    const acked = (loop: string, at: string, row: { id: string; lsn: string }) => {
      ids.set(at, [...(ids.get(at) ?? []), Number(row.id)]);
      this.walMarks.mark(loop, at, markOf('t_ids', Number(row.id)), row.lsn);
    };
    const idLoop = writeLoop(
      () => this.primary,
      connect,
      timed(async (client, at) => {
        const { rows } = await client.query<{ id: string; lsn: string }>(
          `INSERT INTO public.t_ids (id, v) VALUES ($1, md5(random()::text)) RETURNING id::text, ${LSN}`,
          [++this.nextId],
        );
        acked('ids', at, rows[0]!);
      }),
      failed,
    );
    const family = writeLoop(
      () => this.primary,
      connect,
      timed(familyInsert(this.ledger, this.walMarks, this.forgivenFamilies)),
      failed,
    );
    // a family of the ledger still held and not forgiven, by chance (none among a few: none now)
    const pick = () => {
      for (let i = 0; i < 5 && this.ledger.length > 0; i++) {
        const f = this.ledger[Math.floor(Math.random() * this.ledger.length)]!;
        if (!f.gone && !this.forgivenFamilies.has(f.parent)) return f;
      }
      return undefined;
    };
    const churn = writeLoop(() => this.primary, connect, timed(familyChurn(pick, this.walMarks)), failed);
    // rows inserted, updated and deleted in every other table the file replicates now
    const tables: RowTable[] = [
      't_ids',
      ...(this.file.keyless ? (['t_keyless'] as const) : []),
      ...(this.file.link === 'merge' ? (['t_link'] as const) : []),
    ];
    const rows = writeLoop(
      () => this.primary,
      connect,
      timed(this.rowLedger.writer(tables, this.walMarks, this.forgivenRows)),
      failed,
    );
    const sideDoor = (role: { user: string; password: string }, sql: string) =>
      writeLoop(
        () => this.primary,
        (at) => roleClient(this.node(at), role),
        timed(async (client, at) => {
          const { rows } = await client.query<{ id: string; lsn: string }>(sql, [++this.nextId]);
          acked(role.user, at, rows[0]!);
        }),
        failed,
      );
    const column = sideDoor(
      SIDE_COLUMN,
      `INSERT INTO public.t_ids (id, v) VALUES ($1, 'column grant') RETURNING id::text, ${LSN}`,
    );
    const definer = sideDoor(SIDE_DEFINER, `SELECT public.torture_side_write($1)::text AS id, ${LSN}`);
    this.writers.push({
      ids,
      stop: async () => void (await Promise.all([idLoop(), family(), churn(), rows(), column(), definer()])),
    });
  }

  async stopWriters(): Promise<void> {
    for (const w of this.writers.splice(0)) {
      await w.stop();
      for (const [node, ids] of w.ids) this.acked.set(node, [...(this.acked.get(node) ?? []), ...ids]);
    }
  }

  /** the servers down: pa, pb (and the standby), and pc if it was started, then pc's writer (its write ends with them) */
  async stop(): Promise<void> {
    await this.third?.cluster.stop();
    await this.cluster.stop();
    await this.third?.stop();
  }

  /** the tables a subscription of the file carries */
  tablesOf(subscription: string): string[] {
    if (subscription.startsWith(`${LINK}_`)) return [LINK_TABLE];
    return this.file.keyless ? [...TABLES, KEYLESS] : TABLES;
  }

  /** the id the application will write `ahead` writes from now (its ids are sequential) */
  idAhead(ahead: number): number {
    return this.nextId + ahead;
  }

  /** ids acknowledged on `node` so far, the running writers' included */
  ackedCount(node: string): number {
    const running = this.writers.reduce((n, w) => n + (w.ids.get(node)?.length ?? 0), 0);
    return (this.acked.get(node)?.length ?? 0) + running;
  }

  /**
   * A span in which the application may fail to write, declared by the operation that causes it
   * (`why`: the switchover's fence, a crashed primary); returns its end, which `withdrawn` makes
   * cover nothing (an attempt refused before it fenced anything). Writes that fail outside every
   * declared span are disagreements (the oracle: availability).
   */
  blackout(why: string): (withdrawn?: boolean) => void {
    const span: Blackout = { why, from: Date.now(), to: null };
    this.blackouts.push(span);
    this.say(`blackout begins: ${why}`);
    return (withdrawn = false) => {
      span.to = withdrawn ? span.from : Date.now();
      this.say(`blackout ${withdrawn ? 'withdrawn' : 'ends'}: ${why}`);
    };
  }

  /** every id acknowledged so far, by the node that acknowledged it (writers stopped) */
  acknowledged(): Map<string, number[]> {
    return this.acked;
  }

  /** every row of rows.ts written so far, by the node that acknowledged its last write (writers stopped) */
  acknowledgedRows(): Map<string, Row[]> {
    return this.rowLedger.byNode();
  }

  /** every family written so far, by the node that acknowledged its last write (writers stopped) */
  acknowledgedFamilies(): Map<string, Family[]> {
    const out = new Map<string, Family[]>();
    for (const f of this.ledger) out.set(f.at, [...(out.get(f.at) ?? []), f]);
    return out;
  }
}

const PREPARED = { max_prepared_transactions: '4' };

/** Start the nodes, the schema on both, the role and the first rows. */
export async function startWorld(
  version: PgMajor,
  method: InitMethod,
  standbyKind: 'synced' | 'unsynced' | null,
): Promise<World> {
  // prepared transactions (operation switchover-prepared): a standby needs at least its primary's
  const cluster = await startCluster({ nodes: ['pa', 'pb'], version, settings: PREPARED });
  try {
    for (const n of cluster.nodes) {
      await n.query(`CREATE ROLE ${APP.user} LOGIN PASSWORD '${APP.password}'`);
      await n.query(`CREATE ROLE ${LINK_APP.user} LOGIN PASSWORD '${LINK_APP.password}'`);
      // v and w: two columns of one type, for the operation column-swap (both with a default, so
      // the application's INSERT (id, v) is valid whichever of them is named v)
      await n.query(
        "CREATE TABLE public.t_ids (id bigint PRIMARY KEY, v text NOT NULL DEFAULT '', w text NOT NULL DEFAULT '')",
      );
      await n.query(
        'CREATE TABLE public.t_parent (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text NOT NULL)',
      );
      await n.query(
        'CREATE TABLE public.t_child (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, parent_id bigint NOT NULL REFERENCES public.t_parent (id), v text NOT NULL)',
      );
      await n.query(`CREATE TABLE public.${LINK_TABLE} (id bigint PRIMARY KEY, v text NOT NULL)`);
      await n.query(`CREATE TABLE public.${KEYLESS} (v text NOT NULL, n int NOT NULL)`);
      await n.query(`ALTER TABLE public.${KEYLESS} REPLICA IDENTITY FULL`);
      await n.query(
        `GRANT SELECT, INSERT ON ${[...TABLES, LINK_TABLE, KEYLESS].map((t) => `public.${t}`).join(', ')} TO ${APP.user}`,
      );
      await n.query(`GRANT SELECT, INSERT ON public.${LINK_TABLE} TO ${LINK_APP.user}`);
      // the application updates and deletes the families and rows it wrote (the ledgers: writes.ts, rows.ts)
      await n.query(
        `GRANT UPDATE, DELETE ON ${['t_parent', 't_child', 't_ids', KEYLESS, LINK_TABLE].map((t) => `public.${t}`).join(', ')} TO ${APP.user}`,
      );
      for (const side of [SIDE_COLUMN, SIDE_DEFINER])
        await n.query(`CREATE ROLE ${side.user} LOGIN PASSWORD '${side.password}'`);
      await n.query(`GRANT INSERT (id, v, w), SELECT (id) ON public.t_ids TO ${SIDE_COLUMN.user}`);
      await n.query(
        "CREATE FUNCTION public.torture_side_write(i bigint) RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$ INSERT INTO public.t_ids (id, v) VALUES (i, 'definer') RETURNING id $$",
      );
      await n.query('REVOKE EXECUTE ON FUNCTION public.torture_side_write(bigint) FROM PUBLIC');
      await n.query(`GRANT EXECUTE ON FUNCTION public.torture_side_write(bigint) TO ${SIDE_DEFINER.user}`);
    }
    const pa = cluster.node('pa');
    await pa.query('INSERT INTO public.t_ids (id, v) SELECT g, md5(g::text) FROM generate_series(1, 3000) g');
    await pa.query('INSERT INTO public.t_parent (v) SELECT md5(g::text) FROM generate_series(1, 1000) g');
    await pa.query("INSERT INTO public.t_child (parent_id, v) SELECT id, 'seed' FROM public.t_parent");
    await pa.query(
      `INSERT INTO public.${KEYLESS} (v, n) SELECT md5(g::text), g FROM generate_series(1, 500) g`,
    );
    await pa.query('ANALYZE');
    const standby = standbyKind
      ? await startStandby(cluster, 'pa', {
          name: 'pa_standby',
          slot: 'pa_standby',
          settings: { ...PREPARED, ...(standbyKind === 'unsynced' ? { sync_replication_slots: 'off' } : {}) },
        })
      : null;
    return new World(version, cluster, method, standby);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
