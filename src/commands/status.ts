import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags, jsonFlag, watchFlags } from '../cli/flags.js';
import { watch } from '../cli/watch.js';
import { formatProblem } from '../model/errors.js';
import type { StatusReport } from '../model/statusReport.js';
import { renderStatus } from '../render/status.js';
import { openStatus, readStatus } from '../workflows/status.js';

export default class Status extends SteepCommand {
  static override summary =
    'Show every node, subscription and slot: reachable, init state, lag, errors, retained WAL.';
  static override description =
    `Per node: reachable and its PostgreSQL version. Per subscription: its init state (uninitialized, preparing, copying, catching_up, synchronized, diverged, failed, reinitializing), lag in bytes and seconds, apply and sync error counts (15+) and conflict counters (18+). Per slot: wal_status and the WAL it retains; orphaned slots (nothing uses them) and slots prepared by steep init prepare are listed apart.
Exit codes: 0, or 1 when a node cannot be reached.`;
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json',
    '<%= config.bin %> status --watch',
  ];
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...watchFlags({ summary: 'Refresh every few seconds until interrupted.', defaultMs: 2000, minMs: 500 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    this.colorEnabled(flags);
    const { topology, configWarnings } = await openStatus(flags.config);
    for (const w of configWarnings) this.err(formatProblem(w));
    const render = (r: StatusReport) =>
      flags.json ? JSON.stringify(r, null, flags.watch ? undefined : 2) : renderStatus(r);
    if (flags.watch) {
      await watch(async () => render(await readStatus(topology)), {
        intervalMs: flags.interval,
        redraw: !flags.json && process.stdout.isTTY === true,
      });
      return;
    }
    const report = await readStatus(topology);
    this.out(render(report));
    if (report.nodes.some((n) => !n.reachable)) process.exitCode = 1;
  }
}
