import type { GeneratedColumns, SubscriptionOptions } from '../model/topology.js';
import {
  GENERATED_COLUMNS_MIN_VERSION,
  PG18,
  SUBSCRIPTION_OPTIONS,
  supportsOption,
} from '../model/versions.js';

/**
 * PostgreSQL's own defaults, per server version (server_version_num; the gates are model/versions.ts).
 * An option left out of steep.yaml means PostgreSQL's default for the subscriber's version,
 * and is still compared, so a hand-made change to it is drift.
 */

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
  const names = SUBSCRIPTION_OPTIONS.filter((name) => supportsOption(name, serverVersion));
  return Object.fromEntries(names.map((name) => [name, all[name]]));
}

/** The file's value, else PostgreSQL's default, for every option the version has. */
export function effectiveSubscriptionOptions(
  fromFile: Partial<SubscriptionOptions>,
  serverVersion: number,
): Partial<SubscriptionOptions> {
  const defaults = Object.entries(defaultSubscriptionOptions(serverVersion));
  return Object.fromEntries(
    defaults.map(([name, v]) => [name, fromFile[name as keyof typeof fromFile] ?? v]),
  );
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
