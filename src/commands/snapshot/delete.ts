import { Args, Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../../cli/flags.js';
import { snapshotDelete } from '../../workflows/snapshot.js';

export default class SnapshotDelete extends SteepCommand {
  static override summary = 'Remove a two-phase snapshot’s files, and its slot with --allow-destroy.';
  static override description =
    'Removes the files the manifest lists, schema.sql and manifest.json. The slot on the publisher is dropped only with --allow-destroy, and never while the subscription streams from it (its snapshot applied).';
  static override examples = ['<%= config.bin %> snapshot delete /backup/west_orders --allow-destroy'];
  static override args = { dir: Args.string({ description: 'The snapshot directory.', required: true }) };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    'allow-destroy': Flags.boolean({ summary: 'Also drop the snapshot’s slot.', env: 'STEEP_ALLOW_DESTROY' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotDelete);
    this.colorEnabled(flags);
    const r = await snapshotDelete(flags.config, args.dir, flags['allow-destroy']);
    if (flags.json) return this.out(JSON.stringify(r));
    this.out(
      `Removed ${r.filesRemoved} files from ${r.dir}${r.slotDropped ? '; slot dropped' : ''}.${r.slotKept ? `\nNote: ${r.slotKept}.` : ''}`,
    );
  }
}
