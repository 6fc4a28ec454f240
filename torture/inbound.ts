import { writeLoop } from '../test/support/appWriter.js';
import { startCluster, type TestNode } from '../test/support/cluster.js';
import { eventually, HANG_MS } from '../test/support/topologyFile.js';
import type { World } from './world.js';

/**
 * The third node's subscription (operation switchover-inbound): pc's application writes `t_ids`
 * there, ids from THIRD_FIRST_ID on (none of the application's), and INBOUND feeds them into the
 * publisher's `t_ids`; moved to pb and back as docs/switchover.md "Inbound subscriptions" shows.
 */
export const THIRD_FIRST_ID = 500_000_000;
export const INBOUND = 'torture_in';

/** pc's connection string for a subscription on pa or pb (the harness's own; never printed) */
export function thirdConninfo(pc: TestNode): string {
  return `host=127.0.0.1 port=${pc.port} dbname=app user=postgres password=${pc.password}`;
}

/**
 * INBOUND moved from `from` to `to` as docs/switchover.md "Inbound subscriptions" shows: disabled,
 * where its origin stopped read once its worker is gone, its slot let go; on `to` the same slot
 * (pa's kept subscription given it back, or a new one on pb), the origin advanced to that
 * position, enabled. Moving back, pb's is dropped.
 */
export async function moveInbound(world: World, from: TestNode, to: TestNode): Promise<string | null> {
  await from.query(`ALTER SUBSCRIPTION ${INBOUND} DISABLE`);
  await eventually(
    async () =>
      (
        await from.query(
          'SELECT 1 FROM pg_stat_subscription st JOIN pg_subscription s ON s.oid = st.subid WHERE s.subname = $1 AND st.pid IS NOT NULL',
          [INBOUND],
        )
      ).length === 0,
    HANG_MS,
    `${INBOUND}'s worker on ${from.name} to stop`,
  );
  const [stopped] = await from.query<{ lsn: string | null }>(
    "SELECT o.remote_lsn::text AS lsn FROM pg_replication_origin_status o JOIN pg_subscription s ON o.external_id = 'pg_' || s.oid WHERE s.subname = $1",
    [INBOUND],
  );
  await from.query(`ALTER SUBSCRIPTION ${INBOUND} SET (slot_name = NONE)`);
  if (from === world.subscriber) await from.query(`DROP SUBSCRIPTION ${INBOUND}`);
  if ((await to.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [INBOUND])).length > 0)
    await to.query(`ALTER SUBSCRIPTION ${INBOUND} SET (slot_name = '${INBOUND}')`);
  else
    await to.query(
      `CREATE SUBSCRIPTION ${INBOUND} CONNECTION '${thirdConninfo(world.third!.node)}' PUBLICATION ${INBOUND} WITH (create_slot = false, slot_name = '${INBOUND}', copy_data = false, enabled = false)`,
    );
  if (stopped?.lsn)
    await to.query(
      "SELECT pg_replication_origin_advance('pg_' || oid, $1::pg_lsn) FROM pg_subscription WHERE subname = $2",
      [stopped.lsn, INBOUND],
    );
  await to.query(`ALTER SUBSCRIPTION ${INBOUND} ENABLE`);
  world.say(`${INBOUND} moved from ${from.name} to ${to.name} at ${stopped?.lsn ?? 'its start'}`);
  return stopped?.lsn ?? null;
}

/** pc's acknowledged ids: how many, and how many pa, pb and both lack */
export async function thirdIdsMissing(
  world: World,
): Promise<{ acked: number; pa: number; pb: number; neither: number; first: number[] }> {
  const held = async (n: TestNode) =>
    new Set(
      (
        await n.query<{ id: string }>('SELECT id::text AS id FROM public.t_ids WHERE id > $1', [
          THIRD_FIRST_ID,
        ])
      ).map((r) => Number(r.id)),
    );
  const [pa, pb] = [await held(world.publisher), await held(world.subscriber)];
  const ids = world.third!.acked;
  return {
    acked: ids.length,
    pa: ids.filter((id) => !pa.has(id)).length,
    pb: ids.filter((id) => !pb.has(id)).length,
    neither: ids.filter((id) => !pa.has(id) && !pb.has(id)).length,
    first: ids.filter((id) => !pa.has(id) || !pb.has(id)).slice(0, 5),
  };
}

/**
 * Every row of `tables` (as the rollback's check names them) that pb holds and pa lacks, by key,
 * copied to pa by hand; returns how many.
 */
export async function copyLacking(world: World, tables: string[]): Promise<number> {
  let copied = 0;
  for (const t of tables) {
    const onPa = new Set(
      (await world.publisher.query<{ id: string }>(`SELECT id::text AS id FROM ${t}`)).map((r) => r.id),
    );
    const lacking = (
      await world.subscriber.query<{ id: string; row: unknown }>(
        `SELECT id::text AS id, to_jsonb(x) AS row FROM ${t} x`,
      )
    ).filter((r) => !onPa.has(r.id));
    if (lacking.length === 0) continue;
    await world.publisher.query(
      `INSERT INTO ${t} SELECT * FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)`,
      [JSON.stringify(lacking.map((r) => r.row))],
    );
    copied += lacking.length;
  }
  return copied;
}

/**
 * Starts pc (once): `t_ids` as pa's, published as INBOUND; `subscribe` (its subscription made,
 * so its slot is there before the first write); then its writer, each id whose COMMIT returned
 * logged in `world.third.acked`. Stopped with the world (`world.stop`).
 */
export async function startThird(
  world: World,
  subscribe: (pc: TestNode) => Promise<void>,
): Promise<TestNode> {
  if (world.third) throw new Error('pc runs already');
  const cluster = await startCluster({ nodes: ['pc'], version: world.version });
  const pc = cluster.node('pc');
  try {
    await pc.query(
      "CREATE TABLE public.t_ids (id bigint PRIMARY KEY, v text NOT NULL DEFAULT '', w text NOT NULL DEFAULT '')",
    );
    await pc.query(`CREATE PUBLICATION ${INBOUND} FOR TABLE public.t_ids`);
    await subscribe(pc);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const acked: number[] = [];
  let next = THIRD_FIRST_ID;
  const stop = writeLoop(
    () => 'pc',
    () => pc.client(),
    async (client) => {
      const { rows } = await client.query<{ id: string }>(
        "INSERT INTO public.t_ids (id, v) VALUES ($1, 'pc') RETURNING id::text",
        [++next],
      );
      acked.push(Number(rows[0]!.id));
    },
    // judged with the application's: pc is never fenced nor crashed, so none is declared
    (code) => world.writerErrors.push({ node: 'pc', code, at: Date.now() }),
  );
  world.third = { cluster, node: pc, acked, stop };
  return pc;
}
