import { type Problem, SteepError } from '../model/errors.js';
import { loadTopology } from './load.js';

/**
 * `steep validate`: load and check a steep.yaml without connecting to anything. Every problem of
 * one run, and (`summary`, null when invalid) what the file declares. Never throws for a bad or
 * missing file.
 */
export async function validateConfigFile(path: string) {
  try {
    // validate connects nowhere, so it needs no password: CI validates without production secrets
    const { topology, warnings } = await loadTopology(path, { maskUnsetPasswords: true });
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
