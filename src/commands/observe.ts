import { writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags } from '../cli/flags.js';
import { jsonText } from '../cli/jsonText.js';
import { captureObserved } from '../workflows/observe.js';

export default class Observe extends SteepCommand {
  static override summary =
    'Capture what `steep plan` reads from every node, so it can plan later without database access.';
  static override description =
    `Run it where the nodes are reachable (a scheduled job). The capture holds every node's catalog, table schemas and fingerprints, and which tables hold rows; no password (connection strings show ****). Each node carries a digest of its catalog and the capture the time it was taken.
\`steep plan --observed FILE\` then plans against it where the nodes are out of reach (a pull request's CI), and \`steep apply\` of that plan refuses when a node's live catalog no longer matches the capture.
Exit codes: 0 captured, 1 error (invalid file, a node that cannot be read: nothing is written).`;
  static override examples = [
    '<%= config.bin %> observe --out observed.json',
    '<%= config.bin %> plan --observed observed.json --format markdown',
  ];
  static override flags = {
    ...globalFlags,
    out: Flags.string({ summary: 'The file to write the capture to.', required: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Observe);
    const { capture } = this.warned(await captureObserved(flags.config));
    await writeFile(flags.out, `${jsonText(capture, 2)}\n`, { mode: 0o600 });
    const nodes = Object.entries(capture.nodes).map(([name, n]) => `${name} (${n.digest.slice(0, 19)}…)`);
    this.out(`Captured ${nodes.length} nodes at ${capture.takenAt} into ${flags.out}: ${nodes.join(', ')}`);
  }
}
