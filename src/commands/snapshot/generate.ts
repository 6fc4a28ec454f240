import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { Interruption } from '../../cli/interruption.js';
import { formatBytes } from '../../model/bytes.js';
import { snapshotGenerate } from '../../workflows/snapshot.js';

export default class SnapshotGenerate extends SteepCommand {
  static override summary =
    'Two-phase init, step 1: copy the subscription’s tables to files at a new slot’s snapshot.';
  static override description =
    `For subscriptions with init method two-phase: creates the subscription's slot with an exported snapshot and copies every published table (row filters and column lists honoured; tables above init.splitAbove in key ranges) at that snapshot, on --parallel sessions, one file per table or range, with manifest.json (slot, LSN, per file rows, bytes and SHA-256), schema.sql and the sequences' values.
Interrupted (Ctrl-C, crash, SIGKILL), it resumes when run again: files whose checksum matches the manifest are kept, the rest copied at the same snapshot while it is still held (STEEP_SNAPSHOT_HOLD_MS, default 10 minutes). Ctrl-C while the slot waits for the transactions open on the publisher to end cancels that wait: no slot is made. Killed before it wrote the manifest, it drops the slot it made and starts anew when run again.`;
  static override examples = [
    '<%= config.bin %> snapshot generate west_orders --output /backup/west_orders --compress gzip',
  ];
  static override args = {
    subscription: requiredArg('The two-phase subscription.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    output: Flags.string({ summary: 'Directory to write the snapshot to.', required: true }),
    compress: Flags.string({
      summary: 'Compress the files (default none; a resumed snapshot keeps its own).',
      options: ['gzip', 'none'],
    }),
    parallel: Flags.integer({ summary: 'Copy sessions (default: init.parallel).', min: 1, max: 16 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotGenerate);
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      before: 'generate it again: it resumes the snapshot, or starts it anew',
      first: () =>
        'the slot waiting for the transactions open on the publisher is cancelled (a second Ctrl-C exits at once)',
      again: 'exiting now; generate it again: it drops a slot made meanwhile and starts anew',
    }).install();
    const r = await this.stoppable(interruption, 'snapshot.interrupted', flags.json ? args : null, () =>
      snapshotGenerate(flags.config, args.subscription, {
        dir: flags.output,
        compress: flags.compress as 'gzip' | 'none' | undefined,
        parallel: flags.parallel,
        onEvent: this.events(),
        stop: interruption,
      }),
    );
    if (r === undefined) return;
    const doc = this.warned(r);
    if (r.dropped) this.err(`note: ${r.dropped}`);
    if (flags.compress && flags.compress !== r.compress)
      this.err(
        `warning: --compress ${flags.compress} ignored: the interrupted snapshot in ${r.dir} was started with --compress ${r.compress}, and all its files keep it`,
      );
    if (flags.json) return this.outJson(doc);
    this.out(
      `Snapshot of ${r.subscription} in ${r.dir}: ${r.tables} tables, ${r.files} files (${r.kept} kept from the interrupted run), ` +
        `${r.rows} rows, ${formatBytes(r.bytes)}; slot ${r.slot} at ${r.lsn}.\nLoad it with: steep snapshot apply ${r.subscription} --input ${r.dir}`,
    );
  }
}
