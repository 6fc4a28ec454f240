import type {
  ExistingData,
  InitMethod,
  NewTables,
  SchemaSyncMode,
  Settings,
  SubscriptionOptions,
  SubscriptionSpec,
} from '../model/topology.js';
import { slotNameProblem } from './identifiers.js';
import type { NormaliseContext as Context } from './normalise.js';
import type { Path } from './paths.js';
import { compareText } from './publications.js';
import type { DocumentReader } from './reader.js';
import { parseSize } from './sizes.js';

/**
 * Init methods whose commands have not landed: refused at validation, so a plan never names a
 * command that does not exist (the hint says what to use meanwhile).
 */
const NOT_AVAILABLE_YET: Partial<Record<InitMethod, string>> = {
  merge: 'when both sides already hold equal rows use none; otherwise empty the subscriber and use snapshot',
};

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
  const strategy = reader.string([...base, 'init', 'strategy']);
  const init: SubscriptionSpec['init'] = {
    method,
    parallel: reader.integer([...base, 'init', 'parallel']) ?? settings.parallel,
    existingData: (reader.string([...base, 'init', 'existingData']) as ExistingData | undefined) ?? 'fail',
  };
  if (reader.has([...base, 'init', 'parallel'])) init.parallelDeclared = true;
  const splitAbove = parseSize(reader.get([...base, 'init', 'splitAbove']));
  if (splitAbove !== undefined) init.splitAbove = splitAbove;
  const newTables = reader.string([...base, 'init', 'newTables']) as NewTables | undefined;
  if (newTables !== undefined) init.newTables = newTables;
  const unavailable = NOT_AVAILABLE_YET[method];
  if (unavailable) {
    problems.error(
      'init-method-unavailable',
      `subscription \`${name}\`: init method ${method} is not available yet in this version of steep`,
      positions.value([...base, 'init', 'method']),
      unavailable,
    );
  }
  if (method === 'merge') {
    if (unavailable) {
      if (strategy !== undefined) init.strategy = strategy;
    } else if (strategy === undefined) {
      if (!reader.broken.has([...base, 'init', 'strategy'])) {
        problems.error(
          'merge-strategy',
          `subscription \`${name}\`: init method merge needs a \`strategy\` for conflicting rows`,
          positions.key([...base, 'init', 'method']),
          'prefer-source, prefer-target, last-modified:<column> or manual',
        );
      }
    } else {
      init.strategy = strategy;
    }
  } else if (strategy !== undefined) {
    problems.warning(
      'strategy-ignored',
      `subscription \`${name}\`: \`strategy\` applies only to init method merge; it is ignored`,
      positions.key([...base, 'init', 'strategy']),
    );
  }

  return {
    name,
    node: reader.string([...base, 'node']) ?? '',
    from: reader.string([...base, 'from']) ?? '',
    publications: [...new Set(reader.strings([...base, 'publications']).map((p) => p.value))].sort(
      compareText,
    ),
    slot,
    enabled: reader.boolean([...base, 'enabled']) ?? true,
    options: options(reader, [...base, 'options']),
    schemaSync: (reader.string([...base, 'schemaSync']) as SchemaSyncMode | undefined) ?? settings.schemaSync,
    init,
    protect: reader.boolean([...base, 'protect']) ?? false,
  };
}

/** Only the options the file sets; `true`/`false` for streaming and synchronousCommit read as on/off. */
function options(reader: DocumentReader, base: Path): Partial<SubscriptionOptions> {
  const out: Partial<SubscriptionOptions> = {};
  const onOff = (v: unknown) => (v === true ? 'on' : v === false ? 'off' : v);
  for (const key of [
    'binary',
    'twoPhase',
    'disableOnError',
    'failover',
    'passwordRequired',
    'runAsOwner',
  ] as const) {
    const v = reader.boolean([...base, key]);
    if (v !== undefined) out[key] = v;
  }
  const streaming = onOff(reader.get([...base, 'streaming']));
  if (typeof streaming === 'string') out.streaming = streaming as SubscriptionOptions['streaming'];
  const synchronousCommit = onOff(reader.get([...base, 'synchronousCommit']));
  if (typeof synchronousCommit === 'string') out.synchronousCommit = synchronousCommit;
  const origin = reader.string([...base, 'origin']);
  if (origin !== undefined) out.origin = origin as SubscriptionOptions['origin'];
  return out;
}
