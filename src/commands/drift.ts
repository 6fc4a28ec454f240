import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { formatFlag, globalFlags, jsonFlag } from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { renderDriftMarkdown } from '../render/driftMarkdown.js';
import { renderDriftText } from '../render/driftText.js';
import { detectDrift, driftExitCode } from '../workflows/drift.js';

export default class Drift extends SteepCommand {
  static override summary =
    'Report what differs between steep.yaml and the nodes, and between their table schemas.';
  static override description =
    `For a scheduled pipeline: everything \`steep plan\` would change (objects changed outside steep, missing objects), orphaned replication slots, the schema differences between publisher and subscriber of every subscription, and the tables whose fingerprint changed since it was last saved (by \`steep schema fingerprint --save\` or a successful apply); with --sequences, the subscriber sequences more than settings.sequenceLag values behind the publisher's (logical replication does not carry them: \`steep sequences sync\` brings them up). Nothing is changed.
Exit codes: 0 no drift, 2 drift found, 1 error (invalid file, unreachable node).`;
  static override examples = [
    '<%= config.bin %> drift',
    '<%= config.bin %> drift --json',
    '<%= config.bin %> drift --format markdown > drift.md',
    {
      description: 'In a scheduled job: exit 2 means drift, 1 an error (an unreachable node):',
      command: '<%= config.bin %> drift --json > drift.json || notify-oncall drift.json',
    },
  ];
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...formatFlag,
    sequences: Flags.boolean({
      summary:
        "Also report subscriber sequences behind their publisher's by more than settings.sequenceLag values.",
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Drift);
    const { report } = this.warned(await detectDrift(flags.config, { sequences: flags.sequences }));
    const format = flags.json ? 'json' : flags.format;
    if (format === 'json') this.outJson(report, 2);
    else if (format === 'markdown') this.out(renderDriftMarkdown(report));
    else this.out(renderDriftText(report));
    // on stderr in every format; the text report does not list them (docs/architecture.md, Output and errors)
    for (const e of report.errors) this.err(`error: ${e.message}`);
    setExitCode(driftExitCode(report));
  }
}
