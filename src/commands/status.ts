import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags, jsonFlag, watchFlags } from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { watch } from '../cli/watch.js';
import type { StatusReport } from '../model/statusReport.js';
import { renderPrometheus } from '../render/prometheus.js';
import { renderCheck, renderStatus, statusDocument } from '../render/status.js';
import { readMetrics } from '../workflows/metrics.js';
import { openStatus, readStatus } from '../workflows/status.js';
import { checkStatus, parseMaxLag, statusExitCode } from '../workflows/statusCheck.js';

export default class Status extends SteepCommand {
  static override summary =
    'Show every node, subscription and slot: reachable, init state, lag, errors, retained WAL.';
  static override description =
    `Per node: reachable and its PostgreSQL version. Per subscription: its init state (uninitialized, preparing, copying, catching_up, synchronized, diverged, failed, reinitializing), where synchronized is said only when proven (enabled, every table ready, the apply worker running, no apply or sync error since steep's last reading), else failing (nothing applies, or its workers keep failing: why), stopped (disabled) or unknown (why); lag in bytes and seconds, apply and sync error counts (15+), conflict counters (18+), the tables verify found diverged and those PostgreSQL copied but cannot finish because their table-sync slot is gone (lost sync, with the reinit that ends it). Per slot: wal_status and the WAL it retains; orphaned slots (nothing uses them) and slots prepared by steep init prepare are listed apart. What depends on a node steep cannot read is unknown, never absent.
--format prometheus prints the same as Prometheus metrics (for node_exporter's textfile collector; steep metrics serves them over HTTP, with drift).
With --check, for cron and monitors: exit 2 when a subscription steep.yaml declares is not created, disabled, not synchronized (failing, stopped, a table not ready), failed or over --max-lag, or a slot's wal_status is lost or unreserved; exit 1 when steep cannot prove it healthy (a node, or a figure the verdict or --max-lag needs, cannot be read); the problems are listed with the reason.
Exit codes: 0 (healthy with --check), 2 unhealthy (--check), 1 when a node cannot be read or (--check) something is unknown.`;
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json',
    '<%= config.bin %> status --watch',
    '<%= config.bin %> status --check --max-lag 256MB || page-oncall "replication unhealthy"',
    '<%= config.bin %> status --check --max-lag 30s --json',
    '<%= config.bin %> status --format prometheus > /var/lib/node_exporter/textfile/steep.prom',
  ];
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...watchFlags({ summary: 'Refresh every few seconds until interrupted.', defaultMs: 2000, minMs: 500 }),
    check: Flags.boolean({
      summary:
        'Exit 2 when replication is unhealthy, 1 when a node or a figure cannot be read (for cron and monitors).',
      exclusive: ['watch'],
    }),
    format: Flags.string({
      summary: 'Output format (prometheus: the text exposition format Prometheus reads).',
      options: ['text', 'json', 'prometheus'],
      default: 'text',
      exclusive: ['watch', 'check', 'json'],
    }),
    'max-lag': Flags.string({
      summary: 'With --check: the most lag that is healthy, a size (64MB) or a duration (30s).',
      dependsOn: ['check'],
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const maxLag = flags['max-lag'] !== undefined ? parseMaxLag(flags['max-lag']) : undefined;
    const { topology } = this.warned(await openStatus(flags.config));
    if (flags.format === 'prometheus') {
      const sample = await readMetrics(topology);
      this.out(renderPrometheus(sample).trimEnd());
      if (sample.status.nodes.some((n) => !n.reachable)) setExitCode(1);
      return;
    }
    const json = flags.json || flags.format === 'json';
    const render = (r: StatusReport) => (json ? { json: r } : renderStatus(r));
    if (flags.watch) {
      await watch(async () => render(await readStatus(topology)), {
        intervalMs: flags.interval,
        redraw: !json && process.stdout.isTTY === true,
      });
      return;
    }
    const report = await readStatus(topology);
    const check = flags.check ? checkStatus(report, topology, maxLag) : undefined;
    if (json) this.outJson(statusDocument(report, check), 2);
    else this.out(renderStatus(report), ...(check ? ['', renderCheck(check)] : []));
    const code = statusExitCode(report, check);
    if (code !== 0) setExitCode(code);
  }
}
