import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { confirm } from '../cli/confirm.js';
import { approvalFlags, commaList, globalFlags, jsonFlag, requiredArg } from '../cli/flags.js';
import { Interruption } from '../cli/interruption.js';
import { LineProgress } from '../cli/lineProgress.js';
import { adviceText } from '../model/advice.js';
import { SAY_EVERY_MS } from '../model/waits.js';
import { progressLine } from '../render/initProgress.js';
import { reinitRequest, reinitSubscription } from '../workflows/reinit.js';

export default class Reinit extends SteepCommand {
  static override summary = 'Copy some tables of a subscription again while the others keep streaming.';
  static override description =
    `On the publisher, temporary publications carry every table of the subscription but those named; the subscription switches to them (the named tables leave it), the named tables are truncated on the subscriber, and the subscription switches back with copy_data = true: only they are copied again. The temporary publications are dropped once the copy is done.
States reinitializing → copying → synchronized, with init's progress line. Takes steep's advisory lock on both nodes. Interrupted, the next steep reinit resumes where it stopped.
Ctrl-C (SIGINT), SIGTERM or SIGHUP: no further statement starts, a running copy goes on in PostgreSQL; steep says where it stopped and the command that resumes it, and exits 130 (143, 129); a second signal exits at once.
Asks before it changes anything (the tables it empties on the subscriber: rows only the subscriber holds are deleted); without a terminal it runs only with --auto-approve (or STEEP_AUTO_APPROVE=1).
After a failover of the publisher under which the subscriber may hold rows past the fork (the old primary's writes, maybe their only copy), only --full --discard-past-fork deletes them, given once what the subscriber must keep is on the publisher; --auto-approve alone does not.
Refuses tables the subscription does not carry, a subscription not yet initialised (except an init that failed on tables whose table-sync slot PostgreSQL lost: those it copies again), an unreachable publisher, a table referenced by a foreign key from a table not being reinitialised, and a table another subscription on the subscriber applies into too (its TRUNCATE would delete that one's rows).`;
  static override examples = [
    '<%= config.bin %> reinit west_orders --tables public.orders,public.order_lines',
    '<%= config.bin %> reinit west_orders --schema sales',
    '<%= config.bin %> reinit west_orders --full',
  ];
  static override args = {
    subscription: requiredArg('The subscription to repair.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    tables: Flags.string({
      summary: 'The tables to copy again (comma-separated, schema.table; public when no schema).',
    }),
    schema: Flags.string({ summary: 'Copy every table of this schema again.' }),
    full: Flags.boolean({ summary: 'Copy every table of the subscription again.' }),
    // no environment variable: STEEP_AUTO_APPROVE in a script never stands in for it
    'discard-past-fork': Flags.boolean({
      summary:
        "With --full after a failover: delete the rows the subscriber applied past the fork (the old primary's writes, maybe their only copy) once what it must keep is on the publisher.",
    }),
    'auto-approve': approvalFlags['auto-approve'],
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Reinit);
    const request = reinitRequest({
      ...flags,
      tables: commaList(flags.tables),
      discardPastFork: flags['discard-past-fork'],
    });
    const logJson = flags['log-format'] === 'json';
    // listr2 draws on stdout: only above text output
    const tty = process.stdout.isTTY === true && !logJson && !flags.json;
    const line = tty ? new LineProgress(`reinit ${args.subscription}`) : null;
    let last = { phase: '', at: 0 };
    const onEvent = this.events(
      tty
        ? (e) => {
            // a wait between the progress lines says what it waits for on the line
            if (e.event === 'reinit.waiting' && e.message) line?.set(e.message);
          }
        : (e) => {
            if (e.event === 'init.table_complete') return;
            if (e.message) this.err(`${e.event}: ${e.message}`, 'info');
          },
    );
    let planned: string[] = [];
    const interruption = new Interruption((text) => this.err(text, 'warn'), {
      first: () =>
        'no further statement starts, and a running copy is left to PostgreSQL (a second Ctrl-C exits at once)',
      again: () =>
        `exiting now; a statement still running goes on in PostgreSQL: run \`${adviceText('reinitTables', args.subscription, planned)}\` again to resume`,
    }).install();
    const r = await this.stoppable(interruption, 'reinit.interrupted', flags.json ? args : null, () =>
      reinitSubscription(flags.config, args.subscription, request, {
        stop: interruption,
        discardPastFork: flags['discard-past-fork'],
        confirm: (tables, node, from, pastFork) => {
          const what = `reinit of ${args.subscription} empties ${tables.join(', ')} on ${node} and copies ${tables.length === 1 ? 'it' : 'them'} again from ${from}: rows only ${node} holds are deleted${pastFork ? `, ${pastFork}` : ''}`;
          return confirm({
            question: `${what}. Reinit?`,
            autoApprove: flags['auto-approve'],
            noTerminal: {
              code: 'reinit.no_tty',
              message: `no terminal to confirm on: ${what}; nothing was changed — rerun with --auto-approve (or STEEP_AUTO_APPROVE=1) to reinit without asking`,
            },
            cancelled: { code: 'reinit.declined', message: 'reinit declined; nothing was changed' },
          });
        },
        onPlanned: (tables) => {
          planned = tables;
        },
        onEvent,
        onProgress: (p) => {
          const text = progressLine(p);
          // without a terminal: a line at each change of state, and one every SAY_EVERY_MS between
          if (line) line.set(text);
          else if (!logJson && (p.state !== last.phase || Date.now() - last.at >= SAY_EVERY_MS)) {
            this.err(text, 'info');
            last = { phase: p.state, at: Date.now() };
          }
        },
      }).finally(() => line?.end()),
    );
    if (r === undefined) return;
    const doc = this.warned(r);
    if (flags.json) {
      this.outJson(doc);
      return;
    }
    this.out(
      `Reinit of ${r.tables.join(', ')} in subscription ${r.subscription} done${r.stage === 'fresh' ? '' : ` (resumed: ${r.stage})`}: ` +
        `${r.node} is ${r.state ?? 'synchronized'} (${(r.durationMs / 1000).toFixed(1)} s); the other tables kept streaming.`,
    );
  }
}
