import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { Interruption } from '../../cli/interruption.js';
import { setExitCode } from '../../cli/invocation.js';
import { adviceText } from '../../model/advice.js';
import { type PrepareResult, prepareInit } from '../../workflows/initPrepare.js';

function text(r: PrepareResult, holding: boolean): string[] {
  if (r.clone)
    return [
      r.alreadyPrepared
        ? `Slot ${r.slot} on ${r.from} was already prepared for subscription ${r.subscription} (init physical).`
        : `Slot ${r.slot} created on ${r.from} for subscription ${r.subscription} (init physical).`,
      `LSN: ${r.lsn}`,
      '',
      `Make ${r.node} a physical clone of ${r.from} that holds ${r.from}'s changes up to ${r.lsn} or later: a base backup taken from now on,`,
      `started with recovery.signal and a restore_command that finds nothing (it recovers to the end of the WAL the backup holds and is promoted), in ${r.node}'s data directory:`,
      ...r.clone.map((c) => `  ${c}`),
      '',
      `Then run steep apply: it proves ${r.node} is a clone of ${r.from}, reads where its timeline forked from ${r.from}'s (refusing one before ${r.lsn}),`,
      `creates ${r.subscription} on this slot, starts it there and follows it to synchronized.`,
    ];
  const lines = [
    r.alreadyPrepared
      ? `Slot ${r.slot} on ${r.from} was already prepared for subscription ${r.subscription}.`
      : `Slot ${r.slot} created on ${r.from} for subscription ${r.subscription} (init manual, now preparing).`,
    `LSN: ${r.lsn}`,
  ];
  if (holding && r.snapshotName) {
    lines.push(
      `Snapshot: ${r.snapshotName} (exported: valid while this command runs)`,
      '',
      ...(r.pgDump
        ? [
            'Take a dump consistent at exactly that LSN, while this command keeps running:',
            `  ${r.pgDump}`,
            `Restore it on ${r.node}:`,
            `  ${r.pgRestore}`,
          ]
        : []),
      ...(r.copies.length > 0
        ? [
            `Copy the tables whose publications filter rows or list columns (a dump would restore them whole), at the same snapshot, to ${r.node}:`,
            ...r.copies.map((c) => `  ${c}`),
          ]
        : []),
      '',
      `Then stop this command (Ctrl-C) and run steep apply: it creates ${r.subscription} on this slot, starts it at ${r.lsn} and follows it to synchronized.`,
    );
  } else {
    lines.push(
      '',
      `Restore on ${r.node} a backup consistent at ${r.lsn} (pg_dump needs its exported snapshot: prepare with --hold),`,
      `then run steep apply; for a backup consistent at a later LSN (a physical backup), steep apply --lsn ${r.subscription}=LSN.`,
    );
  }
  return lines;
}

export default class InitPrepare extends SteepCommand {
  static override summary =
    'Manual or physical init, step 1: create the subscription’s slot on the publisher and record its LSN.';
  static override description =
    `For subscriptions with init method physical: creates the slot and prints how to make the subscriber a physical clone of the publisher (nothing is recorded on the subscriber; steep apply reads the clone's position from its timeline history).
For subscriptions with init method manual: creates the slot over a replication connection (CREATE_REPLICATION_SLOT … LOGICAL pgoutput) and records the slot and its consistent point (LSN) in the subscriber's state schema; the init is then preparing.
Ctrl-C (SIGINT), SIGTERM or SIGHUP while the slot waits for transactions open on the publisher cancels that wait (no slot is made); once the slot exists it is recorded first; exit 130 (143, 129).
With --hold the slot's snapshot is exported and kept open until the command is interrupted, and the exact pg_dump --snapshot command to dump the subscribed tables at that LSN is printed, with its pg_restore; a table whose publications filter rows or list columns is copied instead by a printed psql COPY pipeline at the same snapshot, of exactly the rows and columns the subscription carries. After the restore, steep apply creates the subscription on the slot (create_slot = false, copy_data = false), starts its origin at the LSN, enables it and follows it to synchronized.`;
  static override examples = [
    '<%= config.bin %> init prepare west_orders --hold',
    '<%= config.bin %> init prepare west_orders --json',
  ];
  static override args = {
    subscription: requiredArg('The subscription to prepare.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    hold: Flags.boolean({
      summary: 'Export the snapshot and keep it open until interrupted, for pg_dump --snapshot.',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(InitPrepare);
    const onEvent = this.events();
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      first: () =>
        'a slot still waiting for the publisher is cancelled, one already made is recorded first (a second Ctrl-C exits at once)',
      again: `exiting now; a slot made but not recorded stays on the publisher: \`${adviceText('initCancel', args.subscription)}\` drops it`,
    }).install();
    const prepared = await this.stoppable(
      interruption,
      'init.prepare_interrupted',
      flags.json ? args : null,
      () => prepareInit(flags.config, args.subscription, { hold: flags.hold, onEvent, stop: interruption }),
    );
    if (prepared === undefined) return;
    const { result, held } = prepared;
    const doc = this.warned(result);
    const stopped = interruption.received;
    // stopped once the slot existed: it is recorded; a held snapshot is not kept
    if (stopped) await held?.release();
    if (flags.json) this.outJson(doc);
    else this.out(text(result, held !== null && !stopped).join('\n'));
    if (stopped) setExitCode(interruption.exitCode ?? 1);
    if (stopped || !held) return;
    // keep the snapshot until interrupted (or until the connection ends)
    let released = false;
    await new Promise<void>((resolve) => {
      const stop = () => {
        released = true;
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.once('SIGHUP', stop);
      void held.closed.then(() => {
        if (!released)
          this.err(
            `warning: the replication connection to ${result.from} ended: snapshot ${result.snapshotName} is gone`,
          );
        resolve();
      });
    });
    await held.release();
    if (!flags.json) this.err('Snapshot released.');
  }
}
