import { Args, Flags } from '@oclif/core';
import { GATED_HAZARDS } from '../model/hazardGate.js';

/** A required argument, never read from stdin. */
export function requiredArg(description: string) {
  return Args.string({ ignoreStdin: true, description, required: true });
}

/** Flags every command takes (docs/commands.md). */
export const globalFlags = {
  config: Flags.string({
    char: 'c',
    summary: 'Path to steep.yaml.',
    default: 'steep.yaml',
    env: 'STEEP_CONFIG',
    helpGroup: 'GLOBAL',
  }),
  'no-color': Flags.boolean({
    summary: 'Plain output without colour (also NO_COLOR).',
    helpGroup: 'GLOBAL',
  }),
  'log-format': Flags.string({
    summary: 'Format of log events on stderr.',
    options: ['text', 'json'],
    default: 'text',
    helpGroup: 'GLOBAL',
  }),
};

export const jsonFlag = {
  json: Flags.boolean({ summary: 'Print the result as JSON on stdout.' }),
};

export const formatFlag = {
  format: Flags.string({
    summary: 'Output format.',
    options: ['text', 'json', 'markdown'],
    default: 'text',
  }),
};

/** `steep verify`'s tables at a time; a rolling run (a schedule's background job) takes one. */
export const VERIFY_PARALLEL = 2;
export const ROLLING_PARALLEL = 1;

/** The tables and sessions of a row comparison (verify, merge analyze). */
export const compareFlags = {
  tables: Flags.string({
    summary: 'Only these tables (comma-separated, schema.table; public when no schema).',
  }),
  parallel: Flags.integer({
    summary: 'Tables compared at a time (one session per node each).',
    default: VERIFY_PARALLEL,
    min: 1,
  }),
};

/** `--watch` and its `--interval`, for commands that refresh a report until interrupted. */
export function watchFlags(opts: { summary: string; defaultMs: number; minMs: number }) {
  return {
    watch: Flags.boolean({ summary: opts.summary }),
    interval: Flags.integer({
      summary: 'Refresh interval with --watch, in milliseconds.',
      default: opts.defaultMs,
      min: opts.minMs,
    }),
  };
}

/** A comma-separated flag value (`--tables a,b`) as its items, blanks dropped; undefined when not given. */
export function commaList(text: string | undefined): string[] | undefined {
  return text
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The approval flags of a command that can destroy (apply, init cancel), with their CI twins. */
export const approvalFlags = {
  'auto-approve': Flags.boolean({ summary: 'Go ahead without asking.', env: 'STEEP_AUTO_APPROVE' }),
  'allow-destroy': Flags.boolean({
    summary: 'Allow steps that drop publications, subscriptions or slots.',
    env: 'STEEP_ALLOW_DESTROY',
  }),
};

/** `--lsn`: what decides a manual init's start, for `plan` (recorded in a saved plan) and `apply`. */
export const lsnFlag = {
  lsn: Flags.string({
    summary:
      'Manual init: the LSN the restored backup is consistent at, when later than the one `init prepare` recorded ([SUBSCRIPTION=]LSN, repeatable).',
    multiple: true,
  }),
};

/** `--allow-hazard NAME`: on `plan` (recorded in a saved plan) and `apply`, a gated hazard steps may have. */
export const allowHazardFlag = {
  'allow-hazard': Flags.string({
    summary:
      'Allow steps with this hazard to run (repeatable): truncates-data, data-gap, rewrites-table, blocks-writes, drops-slot.',
    multiple: true,
    // one value per flag: `apply --allow-hazard data-gap plan.json` keeps plan.json the PLAN
    multipleNonGreedy: true,
    delimiter: ',',
    helpValue: 'HAZARD',
    parse: async (name) => {
      if ((GATED_HAZARDS as readonly string[]).includes(name)) return name;
      throw new Error(
        name === 'drops-object'
          ? 'drops-object is not allowed by name: a step that drops a publication, subscription or slot runs with --allow-destroy'
          : `${name} is not a hazard allowed by name; it takes one of ${GATED_HAZARDS.join(', ')} (the other hazards need no flag)`,
      );
    },
  }),
};
