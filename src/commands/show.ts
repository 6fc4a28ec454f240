import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { formatFlag, globalFlags, jsonFlag, requiredArg } from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { renderShownPlanMarkdown, renderShownPlanText } from '../render/shownPlan.js';
import { showPlan } from '../workflows/show.js';

export default class Show extends SteepCommand {
  static override summary =
    'Show a plan saved by `steep plan --out`: its steps, its age, and whether it is still current.';
  static override description =
    `Renders the saved plan as \`steep plan\` does (text, --json, --format markdown), with when it was made, by which steep, from which steep.yaml, and with which --target and --lsn.
--check plans again from steep.yaml with the plan's own --target and --lsn, as \`steep apply PLAN\` does, and says whether the saved plan is exactly what would run, naming every difference.
Exit codes: 0 shown (with --check: current), 2 stale (only with --check), 1 error (unreadable plan, unreachable node).`;
  static override examples = [
    '<%= config.bin %> show plan.json',
    '<%= config.bin %> show plan.json --format markdown > plan.md',
    {
      description: 'Before applying a reviewed plan: is it still what the nodes need?',
      command: '<%= config.bin %> show plan.json --check && <%= config.bin %> apply plan.json',
    },
  ];
  static override args = {
    plan: requiredArg('A plan saved by `steep plan --out`.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...formatFlag,
    check: Flags.boolean({
      summary: 'Read the nodes and plan again: exit 0 when the plan is current, 2 when it is stale.',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Show);
    const shown = await showPlan(args.plan, { config: flags.config, check: flags.check });
    const format = flags.json ? 'json' : flags.format;
    if (format === 'json') this.outJson(shown, 2);
    else if (format === 'markdown') this.out(renderShownPlanMarkdown(shown));
    else this.out(renderShownPlanText(shown));
    if (shown.check && !shown.check.current) {
      if (format !== 'text') this.err(`stale: ${shown.check.differences.join('; ')}`);
      setExitCode(2);
    }
  }
}
