import { parseBytes } from '../model/bytes.js';
import type { InitMethod } from '../model/initMethods.js';
import { compareText } from '../model/order.js';
import type {
  ExistingData,
  NewTables,
  SchemaSyncMode,
  Settings,
  SubscriptionOptions,
  SubscriptionSpec,
} from '../model/topology.js';
import { SUBSCRIPTION_OPTION, SUBSCRIPTION_OPTIONS } from '../model/versions.js';
import { slotNameProblem } from './identifiers.js';
import { checkStrategies, checkStrategy } from './mergeStrategy.js';
import type { NormaliseContext as Context } from './normalise.js';
import type { Path } from './paths.js';
import type { DocumentReader } from './reader.js';
import { readFullBelow, readVerifyWindow } from './verifyWindow.js';

/** A subscription: slot, init and schemaSync defaults filled in; options only as the file sets them. */
export function normaliseSubscription(ctx: Context, name: string, settings: Settings): SubscriptionSpec {
  const { reader, positions, problems } = ctx;
  const base = ['subscriptions', name];

  const slot = reader.string([...base, 'slot']) ?? name;
  const slotProblem = slotNameProblem(slot);
  if (slotProblem) {
    const explicit = reader.has([...base, 'slot']);
    problems.error(
      'bad-slot-name',
      explicit
        ? `subscription \`${name}\`: slot name \`${slot}\` ${slotProblem}`
        : `subscription \`${name}\`: its slot name defaults to the subscription's name, which ${slotProblem}`,
      explicit ? positions.value([...base, 'slot']) : positions.key(base),
      explicit ? undefined : 'set `slot` to a name of lower-case letters, digits and `_`',
    );
  }

  const method = (reader.string([...base, 'init', 'method']) as InitMethod | undefined) ?? 'snapshot';
  const init: SubscriptionSpec['init'] = {
    method,
    parallel: reader.integer([...base, 'init', 'parallel']) ?? settings.parallel,
    existingData: (reader.string([...base, 'init', 'existingData']) as ExistingData | undefined) ?? 'fail',
  };
  if (reader.has([...base, 'init', 'parallel'])) init.parallelDeclared = true;
  const splitAbove =
    reader.integer([...base, 'init', 'splitAbove']) ??
    parseBytes(reader.string([...base, 'init', 'splitAbove']) ?? '');
  // a size of 0 bytes (`0MB`) leaves the default
  if (splitAbove) init.splitAbove = splitAbove;
  const newTables = reader.string([...base, 'init', 'newTables']) as NewTables | undefined;
  if (newTables !== undefined) init.newTables = newTables;
  const node = reader.string([...base, 'node']) ?? '';
  const from = reader.string([...base, 'from']) ?? '';
  const owner = { subscription: name, node, from };
  const checked = checkStrategy(ctx, [...base, 'init'], method, owner);
  if (checked) init.strategy = checked;
  const strategies = checkStrategies(ctx, [...base, 'init'], method, owner);
  if (strategies) init.strategies = strategies;
  const window = readVerifyWindow(ctx, [...base, 'verify', 'window']) ?? settings.verifyWindow;
  const fullBelow = readFullBelow(ctx, [...base, 'verify', 'fullBelow']) ?? settings.verifyFullBelow;

  return {
    name,
    node,
    from,
    publications: [...new Set(reader.strings([...base, 'publications']).map((p) => p.value))].sort(
      compareText,
    ),
    slot,
    enabled: reader.boolean([...base, 'enabled']) ?? true,
    options: subscriptionOptions(reader, [...base, 'options']),
    schemaSync: (reader.string([...base, 'schemaSync']) as SchemaSyncMode | undefined) ?? settings.schemaSync,
    init,
    protect: reader.boolean([...base, 'protect']) ?? false,
    ...(reader.has([...base, 'slot']) ? { slotDeclared: true as const } : {}),
    ...(window !== undefined ? { verifyWindow: window } : {}),
    ...(fullBelow !== undefined ? { verifyFullBelow: fullBelow } : {}),
    ...renamedFrom(reader, base),
  };
}

/** `renamedFrom:` as written (config/renames.ts checks it). */
export function renamedFrom(reader: DocumentReader, base: Path): { renamedFrom?: string } {
  const from = reader.string([...base, 'renamedFrom']);
  return from === undefined ? {} : { renamedFrom: from };
}

/**
 * Only the options the file sets, each as `SUBSCRIPTION_OPTION` (model/versions.ts) says its value
 * reads: `onOff` takes `true`/`false` as on/off. The schema has checked each value already.
 */
export function subscriptionOptions(reader: DocumentReader, base: Path): Partial<SubscriptionOptions> {
  const out: Record<string, boolean | string> = {};
  const onOff = (v: unknown) => (v === true ? 'on' : v === false ? 'off' : v);
  for (const key of SUBSCRIPTION_OPTIONS) {
    const path = [...base, key];
    const value = SUBSCRIPTION_OPTION[key].value;
    const v =
      value === 'boolean'
        ? reader.boolean(path)
        : value === 'onOff'
          ? onOff(reader.get(path))
          : reader.string(path);
    if (typeof v === 'boolean' || typeof v === 'string') out[key] = v;
  }
  return out as Partial<SubscriptionOptions>;
}
