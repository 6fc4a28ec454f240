import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { byPosition } from '../config/problems.js';
import { validateConfigFile } from '../config/report.js';
import { formatProblem } from '../model/errors.js';
import { count } from '../render/count.js';

export default class Validate extends SteepCommand {
  static override summary = 'Check steep.yaml without connecting to any node.';
  static override description =
    `Checks the file against its schema, resolves \${env:NAME} references (a node's password needs no variable set: validate connects nowhere), and checks what a schema cannot: that each subscription's nodes exist and its publications live on its \`from\` node, that no two subscriptions share a slot on one publisher, names (at most 63 bytes), table names, and options against each node's declared serverVersion.
Every problem is reported in one run, as FILE:LINE:COLUMN: message (hint). Passwords are never printed.
Exit codes: 0 valid (warnings allowed), 1 invalid.`;
  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate -c examples/quickstart/steep.yaml',
    '<%= config.bin %> validate --json',
  ];
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Validate);
    const report = await validateConfigFile(flags.config);
    if (flags.json) {
      this.outJson(report, 2);
    } else {
      for (const problem of [...report.errors, ...report.warnings].sort(byPosition)) {
        // a problem without a position (the file cannot be read) reads like any other error
        this.err(problem.position ? formatProblem(problem) : `error: ${formatProblem(problem)}`);
      }
      const s = report.summary;
      if (s) {
        this.out(
          `${report.file} is valid: ${count(s.nodes, 'node')}, ${count(s.publications, 'publication')}, ${count(s.subscriptions, 'subscription')}`,
        );
      } else if (report.errors.some((e) => e.position)) {
        this.err(`${report.file} is invalid: ${count(report.errors.length, 'error')}`);
      }
    }
    if (!report.valid) setExitCode(1);
  }
}
