import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { formatProblem } from '../../model/errors.js';
import { sandboxUp } from '../../sandbox/sandbox.js';

const SAID: Record<string, string> = {
  created: 'created and started',
  started: 'started',
  restarted: 'restarted on its new port',
  'already-running': 'already running',
};

export default class SandboxUp extends SteepCommand {
  static override summary =
    'Start local PostgreSQL nodes for the nodes of steep.yaml marked `sandbox: true`.';
  static override description =
    "Each sandbox node gets a PostgreSQL 18 server from the embedded binaries (nothing to install), listening on 127.0.0.1 at the node's port, with the node's database and user, wal_level = logical and room for slots. Data lives in .steep/sandbox/<node>/ next to the file. The servers keep running after steep exits; running `up` again is harmless. A node with a password in the file gets it (scram-sha-256); one without is reached with trust on 127.0.0.1. Stop them with `steep sandbox down`.";
  static override examples = [
    '<%= config.bin %> sandbox up',
    '<%= config.bin %> sandbox up -c examples/quickstart/steep.yaml',
  ];
  static override flags = { ...globalFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(SandboxUp);
    const result = await sandboxUp(flags.config);
    for (const w of result.warnings) this.err(formatProblem(w));
    for (const n of result.nodes) {
      if (n.error) {
        this.err(`error: ${n.node}: ${n.error.message}${n.error.hint ? ` (${n.error.hint})` : ''}`);
        setExitCode(1);
      } else {
        this.out(`${n.node}: ${SAID[n.outcome ?? 'started']}, PostgreSQL ${n.version}  ${n.url}`);
      }
    }
  }
}
