import { type Problem, SteepError } from '../model/errors.js';
import { loadTopology } from './load.js';

/** The outcome of `steep validate`: every problem of one run, and what the file declares when valid. */
export interface ValidationReport {
  file: string;
  valid: boolean;
  errors: Problem[];
  warnings: Problem[];
  /** counts of what the file declares; null when it is invalid */
  summary: { nodes: number; publications: number; subscriptions: number } | null;
}

/** Load and check a steep.yaml without connecting to anything. Never throws for a bad or missing file. */
export async function validateConfigFile(
  path: string,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<ValidationReport> {
  try {
    // validate connects nowhere, so it needs no password: CI validates without production secrets
    const { topology, warnings } = await loadTopology(path, { ...opts, maskUnsetPasswords: true });
    return {
      file: path,
      valid: true,
      errors: [],
      warnings,
      summary: {
        nodes: Object.keys(topology.nodes).length,
        publications: Object.keys(topology.publications).length,
        subscriptions: Object.keys(topology.subscriptions).length,
      },
    };
  } catch (e) {
    if (!(e instanceof SteepError) || !e.code.startsWith('config.')) throw e;
    const problems: Problem[] =
      e.problems.length > 0
        ? e.problems
        : [{ severity: 'error', code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }];
    return {
      file: path,
      valid: false,
      errors: problems.filter((p) => p.severity === 'error'),
      warnings: problems.filter((p) => p.severity === 'warning'),
      summary: null,
    };
  }
}
