import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { maskDeep } from '../db/mask.js';
import { PACKAGE_ROOT } from '../location.js';
import { SteepError } from '../model/errors.js';
import type { Plan } from '../model/plan.js';
import { type PlanFile, toPlanFile } from '../model/planFile.js';
import type { Topology } from '../model/topology.js';
import { refuseChangedCapture } from './observe.js';

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
  const invalid = await validatePlanJson(value);
  if (invalid) throw new SteepError('plan.invalid', `${path} is not a steep plan: ${invalid}`);
  return value as PlanFile;
}

/**
 * An init step that runs no SQL and changes nothing but the recorded state only follows the
 * subscription and records it synchronized: when PostgreSQL finished the copy in the meantime
 * (the fresh plan no longer needs it), running it records that at once and changes nothing.
 */
function onlyFollows(s: PlanFile['steps'][number]): boolean {
  return s.action === 'init' && s.sql.length === 0 && s.changes.every((c) => c.path === 'init.state');
}

/**
 * What changed between a saved plan and the plan the same file gives now. Empty: the saved
 * plan is exactly what will run.
 */
export function staleness(saved: PlanFile, fresh: Plan): string[] {
  const now = asSaved(fresh);
  if (saved.config.digest !== now.config.digest) {
    return [
      `steep.yaml changed since the plan was made (${saved.config.digest.slice(0, 19)}… → ${now.config.digest.slice(0, 19)}…)`,
    ];
  }
  const reasons: string[] = [];
  const fresher = new Map(now.steps.map((s) => [`${s.address} ${s.action}`, s]));
  for (const s of saved.steps) {
    const f = fresher.get(`${s.address} ${s.action}`);
    if (!f) {
      if (!onlyFollows(s)) reasons.push(`${s.address}: the ${s.action} step is no longer needed`);
    } else if (f.catalogDigest !== s.catalogDigest)
      reasons.push(`${s.address}: the catalog rows it depends on on ${s.node} changed`);
    else if (JSON.stringify(f.sql) !== JSON.stringify(s.sql))
      reasons.push(`${s.address}: its SQL would now differ`);
    fresher.delete(`${s.address} ${s.action}`);
  }
  const savedAddresses = new Set(saved.steps.map((s) => s.address));
  for (const [key, f] of fresher) {
    // with --target the saved plan holds a subset: only steps on its addresses count
    if (savedAddresses.has(f.address) || saved.steps.length === 0)
      reasons.push(`${key}: a new step is needed`);
  }
  return reasons;
}

/**
 * `apply PLAN`: refuse a saved plan that is no longer what the file and the nodes give (or, for a
 * plan made from a capture, whose nodes changed since the capture).
 */
export async function refuseStalePlan(saved: PlanFile, topology: Topology, fresh: Plan): Promise<void> {
  if (saved.observed.capture) await refuseChangedCapture(topology, saved.observed.capture);
  const reasons = staleness(saved, fresh);
  if (reasons.length > 0) {
    throw new SteepError(
      'apply.stale_plan',
      `plan is stale: ${reasons.join('; ')}; make a new plan with \`steep plan --out\``,
    );
  }
}
