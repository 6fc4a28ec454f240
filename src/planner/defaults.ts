import type { GeneratedColumns, SubscriptionOptionName, SubscriptionOptions } from '../model/topology.js';

/**
 * PostgreSQL's own defaults and feature gates, per server version (server_version_num).
 * An option left out of steep.yaml means PostgreSQL's default for the subscriber's version,
 * and is still compared, so a hand-made change to it is drift.
 */

export const PG15 = 150000;
export const PG16 = 160000;
export const PG17 = 170000;
export const PG18 = 180000;

/** Subscription options in the order steep writes them (PostgreSQL's documentation order). */
export const SUBSCRIPTION_OPTIONS: readonly SubscriptionOptionName[] = [
  'binary',
  'streaming',
  'synchronousCommit',
  'twoPhase',
  'disableOnError',
  'origin',
  'failover',
  'passwordRequired',
  'runAsOwner',
];

/** The SQL name of each option. */
export const OPTION_SQL_NAME: Record<SubscriptionOptionName, string> = {
  binary: 'binary',
  streaming: 'streaming',
  synchronousCommit: 'synchronous_commit',
  twoPhase: 'two_phase',
  disableOnError: 'disable_on_error',
  origin: 'origin',
  failover: 'failover',
  passwordRequired: 'password_required',
  runAsOwner: 'run_as_owner',
};

/** The first server version that has each option. */
export const OPTION_MIN_VERSION: Record<SubscriptionOptionName, number> = {
  binary: 140000,
  streaming: 140000,
  synchronousCommit: 140000,
  twoPhase: PG15,
  disableOnError: PG15,
  origin: PG16,
  failover: PG17,
  passwordRequired: PG16,
  runAsOwner: PG16,
};

/** `streaming = parallel` needs 16. */
export const STREAMING_PARALLEL_MIN_VERSION = PG16;
/** `ALTER SUBSCRIPTION … SET (failover)` needs 17 (the option itself is 17+). */
export const FAILOVER_ALTER_MIN_VERSION = PG17;
/** `ALTER SUBSCRIPTION … SET (two_phase)` needs 18; before, two_phase is fixed at creation. */
export const TWO_PHASE_ALTER_MIN_VERSION = PG18;
/** Row filters, column lists and `TABLES IN SCHEMA` need 15. */
export const PUBLICATION_FILTERS_MIN_VERSION = PG15;
/** `publish_generated_columns` needs 18. */
export const GENERATED_COLUMNS_MIN_VERSION = PG18;

/** Options that can only change while the subscription is disabled (disable → alter → enable). */
export const SLOT_OPTIONS: readonly SubscriptionOptionName[] = ['twoPhase', 'failover'];

/** 170004 → "17" */
export function majorVersion(serverVersion: number): string {
  return String(Math.floor(serverVersion / 10000));
}

export function supportsOption(option: SubscriptionOptionName, serverVersion: number): boolean {
  return serverVersion >= OPTION_MIN_VERSION[option];
}

/** PostgreSQL's default for every subscription option the version has. */
export function defaultSubscriptionOptions(serverVersion: number): Partial<SubscriptionOptions> {
  const all: SubscriptionOptions = {
    binary: false,
    streaming: serverVersion >= PG18 ? 'parallel' : 'off',
    synchronousCommit: 'off',
    twoPhase: false,
    disableOnError: false,
    origin: 'any',
    failover: false,
    passwordRequired: true,
    runAsOwner: false,
  };
  const out: Partial<SubscriptionOptions> = {};
  for (const name of SUBSCRIPTION_OPTIONS) {
    if (supportsOption(name, serverVersion)) (out as Record<string, unknown>)[name] = all[name];
  }
  return out;
}

/** The file's value, else PostgreSQL's default, for every option the version has. */
export function effectiveSubscriptionOptions(
  fromFile: Partial<SubscriptionOptions>,
  serverVersion: number,
): Partial<SubscriptionOptions> {
  const out = defaultSubscriptionOptions(serverVersion);
  for (const name of SUBSCRIPTION_OPTIONS) {
    const v = fromFile[name];
    if (v !== undefined && supportsOption(name, serverVersion)) (out as Record<string, unknown>)[name] = v;
  }
  return out;
}

/** The origin a subscription ends up with: `any` wherever the server has no such option. */
export function effectiveOrigin(
  fromFile: Partial<SubscriptionOptions>,
  serverVersion: number | undefined,
): 'any' | 'none' {
  if (serverVersion !== undefined && !supportsOption('origin', serverVersion)) return 'any';
  return fromFile.origin ?? 'any';
}

/** `publish_generated_columns` as it will be: `none` by default on 18+, absent (null) before. */
export function effectiveGeneratedColumns(
  fromFile: GeneratedColumns | null,
  serverVersion: number,
): GeneratedColumns | null {
  if (serverVersion < GENERATED_COLUMNS_MIN_VERSION) return null;
  return fromFile ?? 'none';
}
