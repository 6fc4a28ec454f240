import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../../cli/flags.js';
import { formatProblem } from '../../model/errors.js';
import { type SandboxNodeStatus, sandboxStatus } from '../../sandbox/sandbox.js';

function line(n: SandboxNodeStatus): string {
  const port =
    n.runningPort !== null && n.port !== null && n.runningPort !== n.port
      ? `port ${n.runningPort} (file says ${n.port}: run steep sandbox up to move it)`
      : `port ${n.runningPort ?? n.port ?? '?'}`;
  const version = n.version ? `PostgreSQL ${n.version}` : 'not created';
  const url = n.url ?? '(no longer in the file; steep sandbox down stops it)';
  return `${n.node.padEnd(12)} ${n.state.padEnd(8)} ${port}  ${version}  ${url}`;
}

export default class SandboxStatus extends SteepCommand {
  static override summary = 'List the sandbox nodes: running or stopped, port, URL, version.';
  static override examples = ['<%= config.bin %> sandbox status', '<%= config.bin %> sandbox status --json'];
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(SandboxStatus);
    const { nodes, warnings } = await sandboxStatus(flags.config);
    for (const w of warnings) this.err(formatProblem(w));
    if (flags.json) {
      this.outJson({ nodes }, 2);
      return;
    }
    if (nodes.length === 0) this.out('no sandbox nodes');
    for (const n of nodes) this.out(line(n));
  }
}
