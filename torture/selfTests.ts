import { startSteep } from '../test/support/cli.js';
import { fastCopy, slowCopy } from '../test/support/replicationData.js';
import { eventually, HANG_MS } from '../test/support/topologyFile.js';
import type { CheckName } from './checks.js';
import type { OracleOptions } from './oracle.js';
import type { Row } from './rows.js';
import { APP, FIRST_CLIENT_ID, SIDE_COLUMN, SIDE_DEFINER, type World } from './world.js';
import type { Family } from './writes.js';

/** every role the application writes t_ids as */
const APP_ROLES = [APP, SIDE_COLUMN, SIDE_DEFINER];

/**
 * The oracle's self-tests (test/cli/torture.test.ts runs them in one world after the first
 * apply): each breaks the world behind steep's back in one way, and the oracle must disagree,
 * with `expect` in a sentence of `check`; `repair` puts the world back for the next one.
 */
export interface SelfTest {
  name: string;
  /** the check of the oracle (checks.ts) that must name it */
  check: CheckName;
  /** the oracle's ceilings for this case (short where the case waits for something that never comes) */
  opts?: OracleOptions;
  break: (world: World) => Promise<void>;
  expect: (world: World) => string;
  repair: (world: World) => Promise<void>;
}

/** the family the lost-family case deletes: one the application wrote on pa and holds */
let lostFamily: Family | null = null;

const familyLost = (w: World): Family => {
  lostFamily ??=
    w
      .acknowledgedFamilies()
      .get('pa')
      ?.find((f) => !f.gone && !f.doubt) ?? null;
  if (!lostFamily) throw new Error('no family acknowledged on pa yet');
  return lostFamily;
};

/** the row the lost-row case deletes: one of t_ids the application wrote on pa and holds */
let lostRow: Row | null = null;

const rowLost = async (w: World): Promise<Row> => {
  const held = () =>
    w
      .acknowledgedRows()
      .get('pa')
      ?.find((r) => r.table === 't_ids' && !r.gone && !r.doubt);
  await eventually(async () => held() !== undefined, HANG_MS, 'a row of t_ids acknowledged on pa');
  return held()!;
};

const synchronizedButDiffer = (w: World) =>
  `steep status calls ${w.file.sub} synchronized, but its rows differ once caught up`;

/** the reinit the unsettled case starts in the background */
let reinit: ReturnType<typeof startSteep> | null = null;

export const SELF_TESTS: SelfTest[] = [
  {
    name: 'a missing row',
    check: 'synchronized-rows-equal',
    break: async (w) => void (await w.subscriber.query('DELETE FROM public.t_ids WHERE id = 7')),
    expect: synchronizedButDiffer,
    repair: async (w) =>
      void (await w.subscriber.query("INSERT INTO public.t_ids (id, v) VALUES (7, md5('7'))")),
  },
  {
    name: 'an extra row',
    check: 'synchronized-rows-equal',
    break: async (w) =>
      void (await w.subscriber.query("INSERT INTO public.t_ids (id, v) VALUES (-7, 'extra')")),
    expect: synchronizedButDiffer,
    repair: async (w) => void (await w.subscriber.query('DELETE FROM public.t_ids WHERE id = -7')),
  },
  {
    name: 'a wrong value in one column',
    check: 'synchronized-rows-equal',
    // t_child.v of a seeded row: the same count, the same ids, one column's value differs
    break: async (w) => void (await w.subscriber.query("UPDATE public.t_child SET v = 'seed!' WHERE id = 5")),
    expect: synchronizedButDiffer,
    repair: async (w) => void (await w.subscriber.query("UPDATE public.t_child SET v = 'seed' WHERE id = 5")),
  },
  {
    name: 'a lost acknowledged id',
    check: 'acked-ids-on-primary',
    // gone from the primary (the delete replicates: the subscription stays equal)
    break: async (w) => {
      await eventually(
        async () =>
          (await w.publisher.query(`SELECT 1 FROM public.t_ids WHERE id = ${FIRST_CLIENT_ID + 1}`)).length ===
          1,
        HANG_MS,
        'the first acknowledged id',
      );
      await w.publisher.query(`DELETE FROM public.t_ids WHERE id = ${FIRST_CLIENT_ID + 1}`);
    },
    expect: (w) =>
      `1 id(s) acknowledged on pa are not on ${w.primary}, which steep calls primary (${FIRST_CLIENT_ID + 1}…)`,
    repair: async (w) =>
      void (await w.publisher.query(
        `INSERT INTO public.t_ids (id, v) VALUES (${FIRST_CLIENT_ID + 1}, 'back')`,
      )),
  },
  {
    name: 'a lost acknowledged family',
    check: 'acked-families-on-primary',
    // a family the application wrote, gone from the primary (child, then parent; the deletes
    // replicate: the subscription stays equal), as a lost insert or a delete nobody asked for would
    break: async (w) => {
      lostFamily = null;
      const f = familyLost(w);
      await w.publisher.query('DELETE FROM public.t_child WHERE id = $1', [f.child]);
      await w.publisher.query('DELETE FROM public.t_parent WHERE id = $1', [f.parent]);
    },
    expect: (w) =>
      `1 famil(ies) (a t_parent row and its t_child) whose last write pa acknowledged do not hold it on ${w.primary}, which steep calls primary (parent ${familyLost(w).parent} v `,
    repair: async (w) => {
      const f = familyLost(w);
      await w.publisher.query('INSERT INTO public.t_parent (id, v) OVERRIDING SYSTEM VALUE VALUES ($1, $2)', [
        f.parent,
        f.v,
      ]);
      await w.publisher.query('INSERT INTO public.t_child (id, parent_id, v) VALUES ($1, $2, $3)', [
        f.child,
        f.parent,
        f.childV,
      ]);
    },
  },
  {
    name: 'a lost acknowledged row',
    check: 'acked-rows-on-primary',
    // a row of t_ids the application inserted (and may have updated), gone from the primary (the
    // delete replicates: the subscription stays equal), as a lost insert or a delete nobody asked
    // for would; the application's update or delete of it then finds no row and leaves it alone
    break: async (w) => {
      lostRow = await rowLost(w);
      await w.publisher.query('DELETE FROM public.t_ids WHERE id = $1', [lostRow.key]);
    },
    expect: (w) =>
      `1 row(s) whose last write pa acknowledged do not hold it on ${w.primary}, which steep calls primary (t_ids id ${lostRow?.key} v `,
    repair: async (w) => {
      const r = lostRow!;
      await w.publisher.query('INSERT INTO public.t_ids (id, v) VALUES ($1, $2)', [r.key, r.v]);
    },
  },
  {
    name: 'a locked-out writer',
    check: 'writes-go-on',
    // the application's roles (its side doors' too) NOLOGIN on the primary and their sessions
    // ended, as a fence left behind would
    opts: { writesMs: 5_000 },
    break: async (w) => {
      for (const role of APP_ROLES) {
        await w.publisher.query(`ALTER ROLE ${role.user} NOLOGIN`);
        await w.publisher.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [
          role.user,
        ]);
      }
    },
    expect: (w) => `the application cannot write on ${w.primary}, which steep calls primary`,
    repair: async (w) => {
      for (const role of APP_ROLES) await w.publisher.query(`ALTER ROLE ${role.user} LOGIN`);
    },
  },
  {
    name: 'an unsettled subscription',
    check: 'status-settles',
    // a table copied again, slowly (a trigger on the subscriber sleeps during the copy): status
    // shows it moving past the oracle's ceiling
    opts: { settleMs: 5_000 },
    break: async (w) => {
      await slowCopy(w.subscriber, 't_ids', 100, 400);
      reinit = startSteep(
        ['reinit', w.file.sub, '--auto-approve', '--tables', 'public.t_ids', '-c', w.path],
        w.env(),
      );
      await eventually(
        async () =>
          (
            await w.subscriber.query(
              "SELECT 1 FROM pg_subscription_rel WHERE srrelid = 'public.t_ids'::regclass AND srsubstate <> 'r'",
            )
          ).length === 1,
        HANG_MS,
        't_ids copied again',
      );
    },
    expect: () => 'steep status had not settled after 5000 ms',
    repair: async (w) => {
      // the slow trigger first: it slows every row the apply worker writes into t_ids too, and the
      // reinit's closing comparison waits for the subscriber to replay (a CI run under load: the
      // lag grew past what the comparison's 60 s wait could see replayed, and the call's ceiling)
      await fastCopy(w.subscriber, 't_ids');
      const done = await reinit?.exited;
      reinit = null;
      if (done?.code !== 0)
        throw new Error(`steep reinit --tables public.t_ids exited ${done?.code}: ${done?.stderr}`);
    },
  },
];
