import { Flags, type Interfaces } from '@oclif/core';
import { parseBytes } from '../model/bytes.js';
import { parseDuration } from '../model/durations.js';
import { SteepError } from '../model/errors.js';
import type { SwitchoverOptions } from '../model/switchover.js';
import { commaList } from './flags.js';

/** `steep switchover`'s flags, and their values as the workflow's options. */
export const switchoverFlags = {
  'max-lag': Flags.string({
    summary:
      'Start only once the subscription lags no more than this (a size); preflight waits up to --lag-timeout for it.',
    default: '200kB',
  }),
  'lag-timeout': Flags.string({
    summary: 'Refuse when the lag has not dropped under --max-lag within this long.',
    default: '30s',
  }),
  'fence-timeout': Flags.string({
    summary: 'Give up (and undo the fence) when the drain takes longer than this.',
    default: '30s',
  }),
  grace: Flags.string({
    summary: "How long the fenced roles' busy sessions may finish their transactions before they are ended.",
    default: '5s',
  }),
  verify: Flags.string({
    summary: 'Compare the data before the release: all (every table), none, or a list of tables (a,b).',
    default: 'all',
  }),
  reverse: Flags.boolean({
    summary: 'Before the release, replicate the new primary back to the old one (PostgreSQL 16+ on both).',
  }),
  'keep-slot': Flags.boolean({ summary: "Keep the forward subscription's slot on the old primary." }),
  roles: Flags.string({
    summary:
      'The roles to fence (comma-separated); default: every login role that writes the subscribed tables.',
  }),
  'sequence-headroom': Flags.integer({
    summary: "Set each sequence this far past the old primary's value.",
    default: 1000,
    min: 0,
  }),
  sequences: Flags.string({ summary: 'Only these sequences (comma-separated, schema.name).' }),
  'wait-prepared': Flags.string({
    summary:
      "Wait up to this long for the old primary's prepared transactions to end before the fence (default: refuse, naming them).",
  }),
  'accept-missing-constraints': Flags.boolean({
    summary:
      'Switch over although the new primary lacks a constraint (primary key, unique, exclusion, check, foreign key) the old one enforces.',
  }),
  'dry-run': Flags.boolean({
    summary: 'Run the preflight and print the steps with their SQL; change nothing.',
  }),
};

const usage = (message: string) => new SteepError('switchover.usage', message);

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw usage(`--${flag} ${text} is not a duration: write it like 30s, 500ms or 2min`);
  return ms;
}

export function switchoverOptions(
  flags: Interfaces.InferredFlags<typeof switchoverFlags>,
): SwitchoverOptions {
  const maxLag = parseBytes(flags['max-lag'], true);
  if (maxLag === undefined)
    throw usage(`--max-lag ${flags['max-lag']} is not a size: write it like 200kB or 16MB`);
  const roles = commaList(flags.roles);
  if (roles !== undefined && roles.length === 0)
    throw usage('--roles names no role: name them (--roles app,reporting) or leave the flag out');
  const verify = flags.verify === 'all' || flags.verify === 'none' ? flags.verify : commaList(flags.verify)!;
  if (Array.isArray(verify) && verify.length === 0)
    throw usage('--verify takes all, none or a list of tables');
  return {
    maxLagBytes: maxLag,
    lagTimeoutMs: duration('lag-timeout', flags['lag-timeout']),
    fenceTimeoutMs: duration('fence-timeout', flags['fence-timeout']),
    graceMs: duration('grace', flags.grace),
    verify,
    reverse: flags.reverse,
    keepSlot: flags['keep-slot'] === true,
    roles,
    sequenceHeadroom: BigInt(flags['sequence-headroom']),
    sequences: commaList(flags.sequences),
    dryRun: flags['dry-run'],
    waitPreparedMs:
      flags['wait-prepared'] === undefined ? 0 : duration('wait-prepared', flags['wait-prepared']),
    acceptMissingConstraints: flags['accept-missing-constraints'],
  };
}
