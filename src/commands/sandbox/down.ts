import { Flags } from '@oclif/core';
import { SteepCommand } from '../../cli/baseCommand.js';
import { globalFlags } from '../../cli/flags.js';
import { setExitCode } from '../../cli/invocation.js';
import { sandboxDown } from '../../sandbox/sandbox.js';

export default class SandboxDown extends SteepCommand {
  static override summary = 'Stop the local sandbox nodes started by `steep sandbox up`.';
  static override description =
    'Stops every server under .steep/sandbox/ next to the file, including nodes no longer in it. With --purge, also deletes their data.';
  static override examples = ['<%= config.bin %> sandbox down', '<%= config.bin %> sandbox down --purge'];
  static override flags = {
    ...globalFlags,
    purge: Flags.boolean({ summary: 'Also delete the sandbox data (.steep/sandbox/<node>/).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SandboxDown);
    const nodes = await sandboxDown(flags.config, { purge: flags.purge });
    if (nodes.length === 0) this.out('no sandbox nodes to stop');
    for (const n of nodes) {
      if (n.error) {
        this.err(`error: ${n.error.message}${n.error.hint ? ` (${n.error.hint})` : ''}`);
        setExitCode(1);
        continue;
      }
      const what = n.outcome === 'stopped' ? 'stopped' : 'was not running';
      this.out(`${n.node}: ${what}${n.purged ? ', data deleted' : ''}`);
    }
  }
}
