import { Args } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../../cli/flags.js';
import { formatBytes } from '../../model/bytes.js';
import { snapshotList } from '../../workflows/snapshot.js';

export default class SnapshotList extends SteepCommand {
  static override summary = 'The two-phase snapshots in a directory and those the subscribers record.';
  static override description =
    'Per snapshot: its id (subscription@LSN), subscription, LSN, size, age, where its files are (or that they are gone), its status as the subscriber records it (generating, generated, applying, applied, deleted, or cancelled by steep init cancel), and whether its slot still exists on the publisher and how much WAL it retains. DIR and its subdirectories are searched for manifest.json, and for the slot of a generate interrupted before it wrote one; the snapshots the state of the two-phase subscriptions\u2019 subscribers records are listed too, so one whose files are gone while its slot still holds WAL shows up (steep snapshot delete ID --allow-destroy drops that slot).';
  static override examples = ['<%= config.bin %> snapshot list /backup', '<%= config.bin %> snapshot list'];
  static override args = { dir: Args.string({ ignoreStdin: true, description: 'Directory to look in.' }) };
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SnapshotList);
    const list = await snapshotList(flags.config, args.dir ?? null);
    if (flags.json) return this.outJson(list);
    if (list.length === 0)
      return this.out(`No snapshots${args.dir ? ` in ${args.dir}` : ''}, and none recorded.`);
    for (const s of list) {
      const slot =
        s.slotExists === null
          ? `slot ${s.slot} on ${s.publisher}: unknown (unreachable)`
          : s.slotExists
            ? `slot ${s.slot} on ${s.publisher} retains ${formatBytes(s.retainedWalBytes)} of WAL`
            : `slot ${s.slot} on ${s.publisher}: gone`;
      const status = s.status
        ? `${s.status}${s.appliedAt && s.status !== 'applied' ? ' (applied before)' : ''}`
        : 'not recorded';
      this.out(
        s.interrupted
          ? `${s.id}  interrupted before its manifest in ${s.dir}  ${Math.round(s.ageSeconds / 60)} min old  ${slot} ` +
              `(generate into ${s.dir} again drops it and starts anew; steep snapshot delete ${s.dir} --allow-destroy drops it)`
          : `${s.id}  ${s.filesPresent ? s.dir : `files gone from ${s.dir}`}  ${formatBytes(s.bytes)}  ${Math.round(s.ageSeconds / 60)} min old  ` +
              `${s.complete ? 'complete' : 'incomplete'}  ${status} on ${s.subscriber}  ${slot}`,
      );
    }
  }
}
