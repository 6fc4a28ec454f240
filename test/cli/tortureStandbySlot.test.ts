import { describe, expect, it } from 'vitest';
import { FIRST_CHOICES } from '../../torture/choices.js';
import { CATALOG, initialApply } from '../../torture/operations.js';
import { worldArena } from '../../torture/sequence.js';
import { startWorld } from '../../torture/world.js';
import { faultVersions } from '../support/cluster.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * The harness's operation slot-invalidated (torture/operations.ts) invalidates the subscription's
 * slot on pa, never the physical slot of pa's standby (nightly seed 180090 under load lost
 * pa_standby's: every commit on pa then waited for it as a synchronous standby, for ever). Here
 * the standby falls behind on purpose while the operation runs: its WAL receiver is stopped
 * (SIGSTOP: connected, its slot active, confirming nothing) for a few seconds, and pa checkpoints
 * every 200 ms beside the operation, as PostgreSQL's own checkpoints (checkpoint_timeout) may.
 */
describe.each(faultVersions())('slot-invalidated on PostgreSQL %i', (version) => {
  it("a standby behind while it runs, checkpoints beside it: the standby's slot is kept", async () => {
    const world = await startWorld(version, 'snapshot', 'synced');
    const arena = worldArena(world);
    const pa = world.node('pa');
    const standby = world.node('pa_standby');
    let receiver: number | null = null;
    let checkpoints = true;
    try {
      await initialApply.run(world, FIRST_CHOICES);
      await eventually(
        async () => (await standby.query('SELECT 1 FROM pg_stat_wal_receiver')).length === 1,
        HANG_MS,
        'pa_standby streaming',
      );
      const [r] = await standby.query<{ pid: number }>('SELECT pid FROM pg_stat_wal_receiver');
      receiver = r!.pid;
      process.kill(receiver, 'SIGSTOP');
      const resume = setTimeout(() => {
        if (receiver) process.kill(receiver, 'SIGCONT');
        receiver = null;
      }, 5_000);
      const beside = (async () => {
        while (checkpoints) {
          await pa.query('CHECKPOINT').catch(() => {});
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      const op = CATALOG.find((o) => o.name === 'slot-invalidated')!;
      const did = await op.run(world, FIRST_CHOICES).finally(async () => {
        checkpoints = false;
        clearTimeout(resume);
        await beside;
      });
      expect(did).toMatch(/its slot \S+ invalidated on pa/);
      const [slot] = await pa.query<{ wal_status: string }>(
        "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pa_standby'",
      );
      expect(slot?.wal_status).not.toBe('lost');
    } finally {
      checkpoints = false;
      if (receiver) process.kill(receiver, 'SIGCONT');
      await arena.stop();
    }
  }, 300_000);
});
