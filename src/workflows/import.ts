import { readFile, writeFile } from 'node:fs/promises';
import { readCluster } from '../catalog/readCluster.js';
import { loadTopology } from '../config/load.js';
import { SteepError } from '../model/errors.js';
import { importTopology } from '../planner/imported.js';
import { renderImportYaml } from '../render/importYaml.js';

/**
 * `steep import`: read every node of a steep.yaml (one with `nodes:` only, or a full one) and
 * write the file that adopts the publications and subscriptions they hold, unchanged.
 */

export async function importFile(configPath: string) {
  const { topology, warnings } = await loadTopology(configPath);
  const observed = await readCluster(
    Object.values(topology.nodes).map((n) => ({
      name: n.name,
      connection: n.connection,
      replicationConnection: n.replicationConnection,
    })),
    { stateSchema: topology.settings.stateSchema, connectTimeoutMs: topology.settings.connectTimeout },
  );
  const down = Object.values(observed.nodes).filter((n) => !n.reachable);
  if (down.length > 0) {
    // a partial import would read as "these objects do not exist"
    throw new SteepError(
      'import.unreachable',
      `cannot import: ${down.map((n) => (n.reachable ? '' : n.error)).join('; ')}; nothing was written`,
    );
  }
  const imported = importTopology(topology, observed);
  const text = await readFile(configPath, 'utf8');
  return { yaml: renderImportYaml(text, imported), imported, configWarnings: warnings };
}

/** Write the imported file; an existing file is overwritten only with `force`. */
export async function writeImport(path: string, yaml: string, force: boolean): Promise<void> {
  try {
    await writeFile(path, yaml, { flag: force ? 'w' : 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SteepError(
        'import.exists',
        `${path} exists; nothing was written — pass --force to overwrite it, or choose another --out`,
      );
    }
    throw new SteepError('import.write', `cannot write ${path}: ${(err as Error).message}`);
  }
}
