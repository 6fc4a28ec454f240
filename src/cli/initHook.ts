import type { Hook } from '@oclif/core';
import { versionLine } from '../version.js';

/**
 * oclif's init hook, run at every start before the command is found. `steep --version`: oclif
 * prints `config.userAgent` after the init hooks; this makes it say which PostgreSQL versions
 * steep supports too.
 */
const hook: Hook<'init'> = async (opts) => {
  if (opts.id !== '--version') return;
  // read-only in oclif's types, a plain property at run time: the one place oclif takes the text from
  (opts.config as { userAgent: string }).userAgent = versionLine(
    `${opts.config.platform}-${opts.config.arch} node-${process.version}`,
  );
};

export default hook;
