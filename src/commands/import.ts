import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags } from '../cli/flags.js';
import { importFile, writeImport } from '../workflows/import.js';

export default class Import extends SteepCommand {
  static override summary =
    'Write the steep.yaml that adopts the publications and subscriptions the nodes already hold.';
  static override description =
    `Reads every node of the file (one with only \`nodes:\` is enough) and writes it back with \`publications\` and \`subscriptions\` exactly as the catalogs hold them: tables, schemas, column lists, row filters, options that differ from the server's default, slot names, and \`init: { method: none }\` for subscriptions already streaming. \`steep plan\` on the result proposes adoption only.
Objects another steep topology manages, and subscriptions whose publisher is none of the file's nodes, are listed as comments instead. Nothing on the nodes is changed.`;
  static override examples = [
    '<%= config.bin %> import -c nodes.yaml > steep.yaml',
    '<%= config.bin %> import -c nodes.yaml --out steep.yaml',
    '<%= config.bin %> import --out steep.yaml --force',
  ];
  static override flags = {
    ...globalFlags,
    out: Flags.string({ summary: 'Write the file here instead of stdout.', helpValue: 'FILE' }),
    force: Flags.boolean({ summary: 'Overwrite the --out file when it exists.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Import);
    const { yaml, imported } = this.warned(await importFile(flags.config));
    for (const n of imported.notes) this.err(`not imported: ${n}`, 'info');
    if (!flags.out) {
      this.out(yaml.trimEnd());
      return;
    }
    await writeImport(flags.out, yaml, flags.force);
    this.err(
      `Wrote ${flags.out}: ${imported.publications.length} publication(s), ${imported.subscriptions.length} subscription(s); review it, then run steep plan`,
      'info',
    );
  }
}
