import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { snapshotApply } from '../../workflows/snapshot.js';

export default class SnapshotApply extends SteepCommand {
  static override summary =
    'Two-phase init, step 2: verify and load a snapshot, then start the subscription on its slot.';
  static override description =
    `Verifies every file's SHA-256 and the manifest against steep.yaml (topology, subscription, publisher, slot) and the nodes (the slot still there and not consumed past the snapshot, the subscription created disabled by steep apply, the tables and columns present) before touching the subscriber: a truncated, corrupted or foreign snapshot is refused with nothing written.
Then loads the files on parallel sessions (existing rows follow init.existingData; an interrupted load resumes after the files it finished), sets the sequences (never backwards), advances the subscription's origin to the snapshot's LSN, enables it and follows it to synchronized.`;
  static override examples = ['<%= config.bin %> snapshot apply west_orders --input /backup/west_orders'];
  static override args = {
    subscription: requiredArg('The two-phase subscription.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    input: Flags.string({ summary: 'Directory snapshot generate wrote.', required: true }),
    parallel: Flags.integer({ summary: 'Load sessions (default: init.parallel).', min: 1, max: 16 }),
    wait: Flags.boolean({
      summary: 'Follow the subscription to synchronized.',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotApply);
    const r = await snapshotApply(flags.config, args.subscription, {
      dir: flags.input,
      parallel: flags.parallel,
      wait: flags.wait,
      onEvent: this.events(),
    });
    const doc = this.warned(r);
    if (flags.json) return this.outJson(doc);
    this.out(
      `Snapshot ${r.dir} loaded into ${r.subscription}: ${r.files} files, ${r.rows} rows, ${r.sequences} sequences set; ` +
        `started at ${r.lsn}, now ${r.state}.`,
    );
    for (const x of r.statements) this.out(`Ran on ${x.node}:\n  ${x.sql.replace(/\n/g, '\n  ')};`);
  }
}
