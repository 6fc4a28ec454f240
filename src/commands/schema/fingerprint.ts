import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags, jsonFlag, requiredArg } from '../../cli/flags.js';
import { fingerprintsDocument, renderFingerprintsText } from '../../render/schemaText.js';
import { fingerprintNode } from '../../workflows/schema.js';

export default class SchemaFingerprint extends SteepCommand {
  static override summary = "Print a SHA-256 fingerprint of every table's columns on a node.";
  static override description =
    `The fingerprint of a table is the SHA-256 (hex) of its columns in ordinal order, each as name:type:default:nullable, joined by |; computed by PostgreSQL for every table in one query. Two tables with the same columns in the same order have the same fingerprint, on any node and version. steep's state schema is left out.
--save stores them, with the capture time, in the state schema's schema_fingerprints table (created by \`steep apply\`); \`steep drift\` then reports the tables whose fingerprint changed since.`;
  static override examples = [
    '<%= config.bin %> schema fingerprint east',
    '<%= config.bin %> schema fingerprint east --save',
    '<%= config.bin %> schema fingerprint east --json',
  ];
  static override args = {
    node: requiredArg('A node of steep.yaml.'),
  };
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    save: Flags.boolean({ summary: "Store the fingerprints in steep's state schema on the node." }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SchemaFingerprint);
    const result = this.warned(await fingerprintNode(flags.config, args.node, { save: flags.save }));
    if (flags.json) this.outJson(fingerprintsDocument(result), 2);
    else this.out(renderFingerprintsText(result, result.stateSchema));
  }
}
