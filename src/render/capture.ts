import type { Plan } from '../model/plan.js';

/** `3 h 12 min`, `45 s`, `2 d 4 h`: how long ago a capture was taken. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The line a plan made by `plan --observed` opens with; null for a plan of the live nodes. */
export function captureLine(plan: Plan, now: Date = new Date()): string | null {
  const c = plan.observed.capture;
  if (!c) return null;
  const age = formatAge(now.getTime() - Date.parse(c.takenAt));
  return `Planned against a capture taken at ${c.takenAt} (${age} ago), not the live nodes; \`steep apply\` of this plan refuses if their catalogs changed since.`;
}
