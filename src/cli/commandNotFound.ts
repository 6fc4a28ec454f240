import type { Hook } from '@oclif/core';
import { ExitError } from '@oclif/core/errors';
import { nearest } from '../config/suggest.js';
import { inRun, mask, registerSecretsIn } from '../db/mask.js';
import { typedArgs } from './invocation.js';

/**
 * oclif's `command_not_found` hook. oclif exits 2 on an unknown command, the code steep keeps
 * for "changes or drift found" (docs/commands.md): a cron job running `steep drfit` would page someone
 * for drift. Misuse is an error (exit 1) with the nearest command. With a space as topic
 * separator oclif also lands here for an argument given to a command that takes none
 * (`steep plan extra` looks up `plan:extra`): that is named as an unexpected argument.
 */

interface Listed {
  id: string;
  hidden?: boolean;
}

/** The sentence for an id oclif could not resolve (`init:statu`, `plan:extra`). */
export function commandNotFoundMessage(id: string, argv: string[], commands: Listed[]): string {
  const visible = commands.filter((c) => !c.hidden).map((c) => c.id);
  const words = id.split(':');
  const spaced = (ids: string) => ids.replace(/:/g, ' ');
  // the longest leading words that name a command: the rest are arguments it does not take
  for (let n = words.length - 1; n > 0; n--) {
    const prefix = words.slice(0, n).join(':');
    if (visible.includes(prefix)) {
      const extra = [...words.slice(n), ...argv.filter((a) => !a.startsWith('-'))];
      return `\`steep ${spaced(prefix)}\` takes no argument here: unexpected ${extra.map((a) => `"${a}"`).join(' ')} (see \`steep ${spaced(prefix)} --help\`)`;
    }
  }
  const typed = spaced(id);
  // the words after a misspelt command may be its arguments: try the longest run first
  for (let n = words.length; n > 0; n--) {
    // a topic typed right is no typo of a command (`init` is not `reinit`)
    if (visible.some((c) => c.startsWith(`${words.slice(0, n).join(':')}:`))) break;
    const head = words.slice(0, n).join(' ');
    const best = nearest(head, visible.map(spaced));
    if (best) return `unknown command \`steep ${head}\`; did you mean \`steep ${best}\`?`;
  }
  // a topic typed right, its command wrong: name what the topic has
  for (let n = words.length - 1; n > 0; n--) {
    const topic = `${words.slice(0, n).join(':')}:`;
    const inTopic = visible.filter((c) => c.startsWith(topic));
    if (inTopic.length > 0) {
      return `unknown command \`steep ${typed}\`; \`steep ${spaced(topic.slice(0, -1))}\` has: ${inTopic.map((c) => spaced(c.slice(topic.length))).join(', ')}`;
    }
  }
  return `unknown command \`steep ${typed}\`; see \`steep --help\` for the commands`;
}

const hook: Hook<'command_not_found'> = async (opts) => {
  const argv = opts.argv ?? [];
  // a password typed here is cut at its colons into the id: the words as typed are the secrets
  const message = inRun(() => {
    registerSecretsIn([...typedArgs(), ...argv]);
    return mask(`error: ${commandNotFoundMessage(opts.id, argv, opts.config.commands)}`);
  });
  const i = argv.indexOf('--log-format');
  const json = argv.includes('--log-format=json') || (i >= 0 && argv[i + 1] === 'json');
  const line = { timestamp: new Date().toISOString(), level: 'error', event: 'error', message };
  process.stderr.write(`${json ? JSON.stringify(line) : message}\n`);
  throw new ExitError(1);
};

export default hook;
