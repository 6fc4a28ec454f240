import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { maskDeep } from '../db/mask.js';
import { PACKAGE_ROOT } from '../location.js';
import { parseAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { PLAN_FORMAT_VERSION, type Plan } from '../model/plan.js';
import { describeInputs, madeDifference, planCommand, planDifferences } from '../model/planDifference.js';
import { type PlanFile, toPlanFile } from '../model/planFile.js';
import type { Topology } from '../model/topology.js';
import { captureChanges } from './observe.js';
import type { PlanFlags } from './plan.js';

const schemaUrl = new URL('schemas/plan.schema.json', PACKAGE_ROOT);

let validator: (((v: unknown) => boolean) & { errors?: unknown }) | undefined;

async function validatePlanJson(value: unknown): Promise<string | null> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    (addFormats as unknown as (a: Ajv) => void)(ajv);
    validator = ajv.compile(JSON.parse(await readFile(schemaUrl, 'utf8')));
  }
  if (validator(value)) return null;
  const errors = (validator.errors ?? []) as Array<{ instancePath: string; message?: string }>;
  return errors.map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}

/** The plan as `plan --out` saves it: the document, masked. */
export function asSaved(plan: Plan): PlanFile {
  return maskDeep(toPlanFile(plan));
}

/** Read a plan saved by `steep plan --out`, checked against schemas/plan.schema.json. */
export async function readSavedPlan(path: string): Promise<PlanFile> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new SteepError(
      'plan.unreadable',
      `cannot read saved plan ${path}: ${(err as Error).message}; make it with \`steep plan --out ${path}\``,
    );
  }
  const format = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof format === 'number' && format !== PLAN_FORMAT_VERSION) {
    const by = (value as { steepVersion?: unknown }).steepVersion;
    throw new SteepError(
      'plan.format',
      `${path} is a plan of format ${format}${typeof by === 'string' ? ` (steep ${by})` : ''}; this steep reads format ${PLAN_FORMAT_VERSION}, ` +
        `which records the --target and --lsn the plan was made with, so that apply runs exactly it: make the plan again with \`steep plan --out ${path}\``,
    );
  }
  const invalid = await validatePlanJson(value);
  if (invalid) throw new SteepError('plan.invalid', `${path} is not a steep plan: ${invalid}`);
  const file = value as PlanFile;
  const bad = file.steps.find((s) => !parseAddress(s.address));
  if (bad) throw new SteepError('plan.invalid', `${path} is not a steep plan: ${bad.address} is no address`);
  // saved before plans recorded --allow-hazard: none allowed
  file.inputs.allowHazards ??= [];
  return file;
}

/**
 * The inputs to plan again with for `apply PLAN` / `show PLAN --check`: the ones the plan
 * recorded. A `--target`, `--lsn` or `--allow-hazard` given now is refused: the plan file decides them.
 */
export function savedPlanInputs(path: string, saved: PlanFile, given: PlanFlags = {}): Required<PlanFlags> {
  const flags = [
    ...(given.targets?.length ? ['--target'] : []),
    ...(given.lsn?.length ? ['--lsn'] : []),
    ...(given.allowHazards?.length ? ['--allow-hazard'] : []),
  ];
  if (flags.length > 0) {
    throw new SteepError(
      'apply.plan_flags',
      `${flags.join(' and ')} cannot change a saved plan: ${path} was made with ${describeInputs(saved)}, and apply runs exactly it; ` +
        `nothing was changed — apply it without ${flags.join(' and ')}, or make another plan with \`steep plan ${flags.map((f) => `${f} …`).join(' ')} --out FILE\``,
    );
  }
  return {
    targets: [...saved.inputs.targets],
    lsn: Object.entries(saved.inputs.lsn).map(([sub, lsn]) => `${sub}=${lsn}`),
    allowHazards: [...saved.inputs.allowHazards],
  };
}

/**
 * What changed between a saved plan and the plan the same file and inputs give now. Empty: the
 * saved plan is exactly what will run.
 */
export function staleness(saved: PlanFile, fresh: Plan): string[] {
  const now = asSaved(fresh);
  const made = madeDifference(saved, now);
  if (made !== null) return [made];
  // the nodes can no longer be planned: the errors say why, not the steps they leave out
  const n = fresh.errors.length;
  if (n > 0)
    return [
      `planned again, the plan has ${n} error${n === 1 ? '' : 's'}: ${fresh.errors.map((e) => e.message).join('; ')}`,
    ];
  return planDifferences(saved, now);
}

/**
 * `apply PLAN`: refuse a saved plan that is no longer what the file and the nodes give (or, for a
 * plan made from a capture, whose nodes changed since the capture: read as `observe` does, a
 * node's catalog digest is no longer the captured one).
 */
export async function refuseStalePlan(
  path: string,
  saved: PlanFile,
  topology: Topology,
  fresh: Plan,
): Promise<void> {
  const capture = saved.observed.capture;
  const changed = capture ? await captureChanges(topology, capture) : [];
  if (changed.length > 0)
    throw new SteepError(
      'apply.capture_changed',
      `the plan was made against a capture taken at ${capture!.takenAt}, and since then ${changed.join(', ')}; nothing was changed — run \`steep observe\` and plan again, or plan against the live nodes`,
    );
  const reasons = staleness(saved, fresh);
  if (reasons.length > 0) {
    throw new SteepError(
      'apply.stale_plan',
      `plan is stale: ${reasons.join('; ')}; nothing was changed — make a new plan with \`${planCommand(saved, path)}\``,
    );
  }
}
