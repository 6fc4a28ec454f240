import { join, resolve } from 'node:path';
import type pg from 'pg';
import { SteepError } from '../model/errors.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { type SnapshotStatus, SnapshotStore, snapshotId } from '../state/snapshots.js';
import { MANIFEST, type Manifest, manifestTotals, sha256File } from './manifest.js';
import { where } from './twoPhase.js';

/**
 * A two-phase snapshot's record in the `snapshots` state table of the subscriber it seeds
 * (`state/snapshots.ts`). The subscriber holds it because a snapshot belongs to exactly one
 * subscription and everything else of that subscription's init is recorded there (its state,
 * the chunks of its load, a manual init's slot): one place to look, one truth, and the row
 * outlives the files. generate and apply record each step; apply also refuses a manifest whose
 * SHA-256 differs from the one generate recorded, since the files' checksums live in it.
 */
export class SnapshotLog {
  private constructor(
    private readonly store: SnapshotStore,
    private readonly sub: pg.Client,
  ) {}

  /** The subscriber's log; refuses when its state schema predates the table (migration 7). */
  static async open(sub: pg.Client, topology: Topology, d: SubscriptionSpec): Promise<SnapshotLog> {
    const store = new SnapshotStore(topology.settings.stateSchema, d.node);
    if (!(await store.exists(sub))) {
      throw new SteepError(
        'snapshot.state_not_ready',
        `steep's state schema on ${d.node} has no snapshots table yet (state migration 7); run steep apply first`,
        where(d),
      );
    }
    return new SnapshotLog(store, sub);
  }

  async mark(m: Manifest, dir: string, status: SnapshotStatus): Promise<void> {
    const { files, rows, bytes } = manifestTotals(m);
    const figures =
      status === 'generated'
        ? { manifestSha256: await sha256File(join(dir, MANIFEST)), files: files.length, rows, bytes }
        : null;
    await this.store.mark(
      this.sub,
      { subscription: m.subscription, source: m.publisher, slot: m.slot, lsn: m.lsn, path: resolve(dir) },
      status,
      figures,
    );
  }

  /** Before anything is written: the manifest is the one generate recorded, when it recorded one. */
  async checkManifest(m: Manifest, dir: string, d: SubscriptionSpec): Promise<void> {
    const recorded = await this.store.get(this.sub, snapshotId(m.subscription, m.lsn));
    if (!recorded?.manifestSha256) return;
    if ((await sha256File(join(dir, MANIFEST))) !== recorded.manifestSha256) {
      throw new SteepError(
        'snapshot.manifest_changed',
        `${join(dir, MANIFEST)} is not the manifest snapshot generate wrote for ${recorded.id} (its SHA-256 differs from the one recorded on ${d.node}), so nothing was loaded; copy the snapshot again, or generate a new one`,
        where(d),
      );
    }
  }
}
