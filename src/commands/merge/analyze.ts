import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { commaList, compareFlags, globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { renderMergeAnalysisText } from '../../render/mergeAnalyze.js';
import { analyzeMerge } from '../../workflows/mergeAnalyze.js';

export default class MergeAnalyze extends SteepCommand {
  static override summary =
    'How the rows of two nodes that both hold data overlap: identical, conflicting, only on one side.';
  static override description =
    `For a link (A = its first node) or a subscription (A = its publisher, B = its subscriber), per table: rows identical on both, conflicting (same key, another row), only on A, only on B, with example keys. Rows are compared by primary key (else replica identity index) on all columns. Key-range chunks are hashed inside each database first; only chunks that differ are read row by row. Read-only (ACCESS SHARE locks, short lock_timeout).
Exit codes: 0 nothing conflicts, 2 conflicting rows (or a table that cannot be compared), 1 error.`;
  static override examples = [
    '<%= config.bin %> merge analyze eu_us',
    '<%= config.bin %> merge analyze west_orders --tables public.orders --json',
  ];
  static override args = {
    name: requiredArg('The link or subscription whose two nodes to compare.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    ...compareFlags,
    examples: Flags.integer({ summary: 'Example keys shown per kind.', default: 10, min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(MergeAnalyze);
    const result = await analyzeMerge(flags.config, args.name, {
      tables: commaList(flags.tables),
      parallel: flags.parallel,
      examples: flags.examples,
      onTableDone: flags.json
        ? undefined
        : (t) => this.err(`${t.table}: ${t.status.replace('_', '-')}`, 'info'),
    });
    const { analysis } = this.warned(result);
    if (flags.json) this.outJson(analysis);
    else this.out(renderMergeAnalysisText(analysis));
    setExitCode(analysis.conflicts || analysis.notComparable > 0 ? 2 : 0);
  }
}
