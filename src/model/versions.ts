import type { SubscriptionOptionName } from './topology.js';

/**
 * The one home of PostgreSQL versions (server_version_num thresholds): which version first has
 * each subscription option and each feature steep uses. config checks declared versions against
 * it, the planner its defaults and gates, the catalog its version-aware SQL. Adding an option:
 * its field in `SubscriptionOptions` (model/topology.ts), then the compiler asks for its line in
 * SUBSCRIPTION_OPTION, its default in planner/defaults.ts and its catalog column
 * (catalog/queries/subscriptions.ts); config reads it from the line, and
 * test/unit/model/subscriptionOptions.test.ts asks for it in the schema.
 */

export const PG14 = 140000;
export const PG15 = 150000;
export const PG16 = 160000;
export const PG17 = 170000;
export const PG18 = 180000;

/** The oldest PostgreSQL steep supports. */
export const MIN_SERVER_VERSION = PG14;

/** 170004 → "17" (the major version, which is what features depend on). */
export function majorVersion(serverVersion: number): string {
  return String(Math.floor(serverVersion / 10000));
}

/**
 * Every subscription option: its SQL name, the first subscriber version that has it, the value
 * steep.yaml gives it (`boolean`; `onOff`, a word where YAML's true/false read as on/off;
 * `word`), and how ALTER SUBSCRIPTION changes it (`inPlace`, or only while the subscription is
 * `disabled`: the options of its slot), in the order steep writes them (PostgreSQL's
 * documentation order). config reads the file's options from it, the planner its statements;
 * `test/unit/model/subscriptionOptions.test.ts` fails until the schema's `options` (with its
 * `x-postgres` gate) has a row's option.
 */
export const SUBSCRIPTION_OPTION: Readonly<Record<SubscriptionOptionName, SubscriptionOptionRow>> = {
  binary: { sql: 'binary', since: PG14, value: 'boolean', alter: 'inPlace' },
  streaming: { sql: 'streaming', since: PG14, value: 'onOff', alter: 'inPlace' },
  synchronousCommit: { sql: 'synchronous_commit', since: PG14, value: 'onOff', alter: 'inPlace' },
  twoPhase: { sql: 'two_phase', since: PG15, value: 'boolean', alter: 'disabled' },
  disableOnError: { sql: 'disable_on_error', since: PG15, value: 'boolean', alter: 'inPlace' },
  origin: { sql: 'origin', since: PG16, value: 'word', alter: 'inPlace' },
  failover: { sql: 'failover', since: PG17, value: 'boolean', alter: 'disabled' },
  passwordRequired: { sql: 'password_required', since: PG16, value: 'boolean', alter: 'inPlace' },
  runAsOwner: { sql: 'run_as_owner', since: PG16, value: 'boolean', alter: 'inPlace' },
};

export interface SubscriptionOptionRow {
  sql: string;
  since: number;
  value: 'boolean' | 'onOff' | 'word';
  alter: 'inPlace' | 'disabled';
}

/** Subscription options in the order steep writes them. */
export const SUBSCRIPTION_OPTIONS = Object.keys(SUBSCRIPTION_OPTION) as readonly SubscriptionOptionName[];

export function supportsOption(option: SubscriptionOptionName, serverVersion: number): boolean {
  return serverVersion >= SUBSCRIPTION_OPTION[option].since;
}

/** Options that can only change while the subscription is disabled (disable → alter → enable). */
export const SLOT_OPTIONS = SUBSCRIPTION_OPTIONS.filter((o) => SUBSCRIPTION_OPTION[o].alter === 'disabled');

/** `streaming = parallel` needs 16. */
export const STREAMING_PARALLEL_MIN_VERSION = PG16;
/** `ALTER SUBSCRIPTION … SET (two_phase)` needs 18; before, two_phase is fixed at creation. */
export const TWO_PHASE_ALTER_MIN_VERSION = PG18;
/** Row filters, column lists and `TABLES IN SCHEMA` need 15. */
export const PUBLICATION_FILTERS_MIN_VERSION = PG15;
/** `publish_generated_columns` needs 18. */
export const GENERATED_COLUMNS_MIN_VERSION = PG18;
/** Both nodes of a link: `origin = none` is filtered by the publisher and set on the subscriber. */
export const LINK_MIN_VERSION = PG16;
/** The subscription set's cross-publication filter needs PostgreSQL 16 on the publisher. */
export const PUBLISHED_UNION_FILTER_MIN_VERSION = PG16;

/** `east runs PostgreSQL 16.4` */
export function runsVersionText(node: {
  name: string;
  serverVersion: number;
  serverVersionText?: string;
}): string {
  return `${node.name} runs PostgreSQL ${node.serverVersionText || majorVersion(node.serverVersion)}`;
}
