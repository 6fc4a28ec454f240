import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags } from '../cli/flags.js';
import { renderPrometheus } from '../render/prometheus.js';
import { parseListen, readMetrics, serveMetrics } from '../workflows/metrics.js';
import { openStatus } from '../workflows/status.js';

export default class Metrics extends SteepCommand {
  static override summary =
    'Serve Prometheus metrics of the topology over HTTP (/metrics), or print them once.';
  static override description =
    `What steep status reads, and what steep drift finds, as Prometheus metrics: per node steep_node_up; per subscription its init state (steep_subscription_state, one series per state), lag (steep_subscription_lag_bytes, _seconds), apply and sync errors and PostgreSQL 18's conflict counters (_total), tables not ready and diverged tables; per slot retained WAL and wal_status; orphaned slots; drift (steep_drift_planned_changes). Passwords never appear.
The endpoint reads the nodes at most once per --interval, whatever the scrape rate. --once prints one sample (for node_exporter's textfile collector) and exits.
Exit codes: 0 (stopped by SIGINT/SIGTERM, or --once printed), 1 error.`;
  static override examples = [
    '<%= config.bin %> metrics --listen 127.0.0.1:9934',
    '<%= config.bin %> metrics --listen :9934 --interval 60',
    '<%= config.bin %> metrics --once > /var/lib/node_exporter/textfile/steep.prom.$$ && mv /var/lib/node_exporter/textfile/steep.prom.$$ /var/lib/node_exporter/textfile/steep.prom',
  ];
  static override flags = {
    ...globalFlags,
    listen: Flags.string({
      summary: 'Where to serve /metrics: HOST:PORT, :PORT (every interface) or PORT (127.0.0.1).',
      default: '127.0.0.1:9934',
      exclusive: ['once'],
    }),
    interval: Flags.integer({
      summary: 'Read the nodes at most once per this many seconds.',
      default: 30,
      min: 1,
    }),
    once: Flags.boolean({ summary: 'Print one sample on stdout and exit.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Metrics);
    const listen = parseListen(flags.listen);
    const { topology } = this.warned(await openStatus(flags.config));
    if (flags.once) {
      this.out(renderPrometheus(await readMetrics(topology, { configPath: flags.config })).trimEnd());
      return;
    }
    const served = await serveMetrics(topology, flags.config, { listen, intervalMs: flags.interval * 1000 });
    this.err(
      `steep metrics: serving http://${served.address}/metrics (nodes read at most every ${flags.interval} s)`,
      'info',
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    await served.close();
    this.err(`steep metrics: stopped (${signal})`, 'info');
  }
}
