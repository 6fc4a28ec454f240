import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Args, Command, Flags } from '@oclif/core';
// by path: plugin-autocomplete exports none of its commands (bundled at build time, as its other
// commands are: scripts/bundle.mjs)
import AutocompleteCommand from '../../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/index.js';

/**
 * plugin-autocomplete's `autocomplete`, then one fix to the bash function it writes: with a
 * space as topic separator it offers a topic once per command in it (`steep in<TAB>` listed
 * `init init init`). The completions offered are made unique.
 */
export default class Autocomplete extends Command {
  static override summary = 'Display autocomplete installation instructions.';
  static override args = {
    shell: Args.string({
      ignoreStdin: true,
      description: 'Shell type',
      options: ['zsh', 'bash', 'powershell'],
      required: false,
    }),
  };
  static override flags = {
    'refresh-cache': Flags.boolean({
      char: 'r',
      summary: 'Refresh cache (ignores displaying instructions).',
    }),
  };
  static override examples = [
    '<%= config.bin %> autocomplete bash',
    '<%= config.bin %> autocomplete zsh',
    '<%= config.bin %> autocomplete --refresh-cache',
  ];

  async run(): Promise<void> {
    await AutocompleteCommand.run(this.argv, this.config);
    const file = path.join(
      this.config.cacheDir,
      'autocomplete',
      'functions',
      'bash',
      `${this.config.bin}.bash`,
    );
    const script = await readFile(file, 'utf8').catch(() => null);
    // the line of bash that fills the completions: a shell variable, not a template
    const reply = ['  COMPREPLY=($(compgen -W "$opts" -- "$', '{cur}"))'].join('');
    if (script === null || !script.includes(reply)) return;
    await writeFile(file, script.replace(reply, `  opts=$(printf '%s\\n' $opts | sort -u)\n${reply}`));
  }
}
