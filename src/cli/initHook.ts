import type { Hook } from '@oclif/core';
import { registerSecretsIn } from '../db/mask.js';
import { versionLine } from '../version.js';

/**
 * oclif's init hook, run at every start before the command is found. A password typed on the
 * command line (a connection URL or `password=…` where steep takes none) is registered as a
 * secret, so the error that echoes the words back masks it: oclif has cut a URL at its colons
 * by then, which hides it from mask()'s URL pattern. `steep --version`: oclif prints
 * `config.userAgent` after the init hooks; this makes it say which PostgreSQL versions steep
 * supports too.
 */
const hook: Hook<'init'> = async (opts) => {
  registerSecretsIn(process.argv.slice(2));
  if (opts.id !== '--version') return;
  // read-only in oclif's types, a plain property at run time: the one place oclif takes the text from
  (opts.config as { userAgent: string }).userAgent = versionLine(
    `${opts.config.platform}-${opts.config.arch} node-${process.version}`,
  );
};

export default hook;
