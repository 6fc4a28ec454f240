import { writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { allowHazardFlag, formatFlag, globalFlags, jsonFlag, lsnFlag } from '../cli/flags.js';
import { setExitCode } from '../cli/invocation.js';
import { jsonText } from '../cli/jsonText.js';
import { SteepError } from '../model/errors.js';
import type { Hazard } from '../model/plan.js';
import { toPlanFile } from '../model/planFile.js';
import { renderPlanText } from '../render/planText.js';
import { makePlan, type PlanResult } from '../workflows/plan.js';

export default class Plan extends SteepCommand {
  static override summary = 'Show what steep would change on the nodes, and why, without touching anything.';
  static override description =
    `Reads every node's live catalog, runs preflight checks, and compares it with steep.yaml.
Exit codes: 0 success (no changes with --detailed-exitcode), 1 error (invalid file, unreachable node, failed preflight), 2 changes present (only with --detailed-exitcode).`;
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan --out plan.json',
    '<%= config.bin %> plan --format markdown > plan.md',
    '<%= config.bin %> plan --detailed-exitcode --target subscription.west_orders',
    '<%= config.bin %> plan --observed observed.json --format markdown --graph > plan.md',
  ];
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...formatFlag,
    out: Flags.string({ summary: 'Also save the JSON plan to this file, for `steep apply PLAN`.' }),
    'detailed-exitcode': Flags.boolean({ summary: 'Exit 2 when the plan has changes, 0 when it has none.' }),
    target: Flags.string({
      summary: 'Plan only this address and what it depends on (repeatable; recorded in --out).',
      multiple: true,
    }),
    ...lsnFlag,
    ...allowHazardFlag,
    observed: Flags.string({
      summary:
        'Plan against a capture of `steep observe --out FILE` instead of the live nodes (no database access).',
    }),
    graph: Flags.boolean({
      summary: 'With --format markdown: add the topology as a Mermaid graph, changes coloured.',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Plan);
    if (flags.graph && (flags.json || flags.format !== 'markdown'))
      throw new SteepError(
        'plan.graph_format',
        '--graph draws into the Markdown plan: add --format markdown',
      );
    const inputs = {
      targets: flags.target ?? [],
      lsn: flags.lsn,
      allowHazards: flags['allow-hazard'] as Hazard[],
    };
    // what only --observed, --format markdown and --graph use (the status reader, the capture,
    // Markdown) is loaded when asked for, not at every plan
    const result = flags.observed
      ? await (await import('../workflows/observe.js')).planFromCapture(flags.config, flags.observed, inputs)
      : await makePlan(flags.config, { ...inputs, live: true });
    const { plan } = this.warned(result);
    const format = flags.json ? 'json' : flags.format;
    // statements already show passwords as ****; jsonText's masking is the last guard
    if (flags.out && plan.errors.length === 0)
      await writeFile(flags.out, `${jsonText(toPlanFile(plan), 2)}\n`, { mode: 0o600 });
    if (format === 'json') this.outJson(toPlanFile(plan), 2);
    else if (format === 'markdown') {
      const { renderPlanMarkdown } = await import('../render/planMarkdown.js');
      this.out(renderPlanMarkdown(plan, { graph: flags.graph ? await planGraphBlock(result) : undefined }));
    } else this.out(renderPlanText(plan));
    if (plan.errors.length > 0) {
      // on stderr in every format; the text plan does not list them again (docs/architecture.md,
      // Output and errors)
      for (const e of plan.errors) this.err(`error: ${e.message}`);
      setExitCode(1);
    } else if (flags['detailed-exitcode'] && plan.steps.length > 0) {
      setExitCode(2);
    }
  }
}

async function planGraphBlock(result: PlanResult): Promise<string> {
  const [{ mermaidBlock }, { topologyGraph }] = await Promise.all([
    import('../render/graph.js'),
    import('../planner/graph.js'),
  ]);
  // the topology the plan leads to, its changes marked, drawn from what the plan read
  return mermaidBlock(topologyGraph(result.topology, { observed: result.observed, plan: result.plan }));
}
