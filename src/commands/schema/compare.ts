import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { comparisonDocument, renderComparisonText } from '../../render/schemaText.js';
import { compareNodes, hasDifferences } from '../../workflows/schema.js';

export default class SchemaCompare extends SteepCommand {
  static override summary = "Compare every table's columns on two nodes.";
  static override description =
    `Per table: MATCH (same fingerprint), MISMATCH (a column is missing, extra, or differs in type, default or nullability), ORDER_DIFFERS (the same columns in another order: harmless, logical replication maps columns by name), LOCAL_ONLY (only on NODE_A), REMOTE_ONLY (only on NODE_B). steep's state schema is left out.
Exit codes: 0 success (and, with --detailed-exitcode, no table differs), 1 error, 2 a table differs (only with --detailed-exitcode; ORDER_DIFFERS does not count).`;
  static override examples = [
    '<%= config.bin %> schema compare east west',
    '<%= config.bin %> schema compare east west --tables public.orders,public.customers',
    '<%= config.bin %> schema compare east west --json',
  ];
  static override args = {
    nodeA: requiredArg('A node of steep.yaml (LOCAL).'),
    nodeB: requiredArg('Another node of steep.yaml (REMOTE).'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    tables: Flags.string({
      summary: 'Only these tables (schema.table, comma-separated; repeatable).',
      multiple: true,
      delimiter: ',',
    }),
    'detailed-exitcode': Flags.boolean({ summary: 'Exit 2 when a table differs, 0 when none does.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SchemaCompare);
    const result = this.warned(
      await compareNodes(flags.config, args.nodeA, args.nodeB, { tables: flags.tables }),
    );
    if (flags.json) this.outJson(comparisonDocument(result), 2);
    else this.out(renderComparisonText(result));
    if (flags['detailed-exitcode'] && hasDifferences(result.tables)) setExitCode(2);
  }
}
