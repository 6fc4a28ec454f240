import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { diffDocument, renderDiffText } from '../../render/schemaText.js';
import { diffTable } from '../../workflows/schema.js';

export default class SchemaDiff extends SteepCommand {
  static override summary = 'Show how one table differs between two nodes, column by column.';
  static override description =
    'Per column: missing (on NODE_B), extra (only on NODE_B), type, default (including identity and generation), nullability; or that the columns are the same in another order, or that the table exists on one node only.';
  static override examples = [
    '<%= config.bin %> schema diff east west public.orders',
    '<%= config.bin %> schema diff east west \'"Sales"."Order Lines"\' --json',
  ];
  static override args = {
    nodeA: requiredArg('A node of steep.yaml.'),
    nodeB: requiredArg('Another node of steep.yaml.'),
    table: requiredArg('schema.table (a bare name means public).'),
  };
  static override flags = { ...globalFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SchemaDiff);
    const result = this.warned(await diffTable(flags.config, args.nodeA, args.nodeB, args.table));
    if (flags.json) this.outJson(diffDocument(result), 2);
    else this.out(renderDiffText(result));
  }
}
