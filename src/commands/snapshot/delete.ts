import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { snapshotDelete } from '../../workflows/snapshot.js';

export default class SnapshotDelete extends SteepCommand {
  static override summary = 'Remove a two-phase snapshot’s files, and its slot with --allow-destroy.';
  static override description =
    'Given the snapshot directory, removes the files the manifest lists, schema.sql and manifest.json; given an id from steep snapshot list (subscription@LSN), also a snapshot whose files are gone. The slot on the publisher is dropped only with --allow-destroy, and never once a subscription streams from it or it has moved past the snapshot. The subscriber records the snapshot deleted.';
  static override examples = [
    '<%= config.bin %> snapshot delete /backup/west_orders --allow-destroy',
    '<%= config.bin %> snapshot delete west_orders@0/1A2B3C8 --allow-destroy',
  ];
  static override args = {
    snapshot: requiredArg('The snapshot directory, or its id from snapshot list.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    'allow-destroy': Flags.boolean({ summary: 'Also drop the snapshot’s slot.', env: 'STEEP_ALLOW_DESTROY' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotDelete);
    const r = await snapshotDelete(flags.config, args.snapshot, flags['allow-destroy']);
    if (flags.json) return this.outJson(r);
    this.out(
      `Snapshot ${r.id}: ${r.dir ? `removed ${r.filesRemoved} files from ${r.dir}` : 'no files here to remove'}${r.slotDropped ? '; slot dropped' : ''}.` +
        `${r.slotKept ? `\nNote: ${r.slotKept}.` : ''}`,
    );
    for (const x of r.statements) this.out(`Ran on ${x.node}:\n  ${x.sql.replace(/\n/g, '\n  ')};`);
  }
}
