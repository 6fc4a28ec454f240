import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestNode } from './cluster.js';
import { tempDir } from './tempDir.js';

/** A psql client on PATH: a test runs the psql lines steep prints with it when there is one. */
export const HAS_PSQL = spawnSync('psql', ['--version']).status === 0;

/** A passfile with the nodes' passwords, as a DBA's .pgpass would hold them (PGPASSFILE). */
export function passfile(nodes: TestNode[]): string {
  const file = join(tempDir('steep-pgpass-'), 'pgpass');
  writeFileSync(file, nodes.map((n) => `127.0.0.1:${n.port}:app:postgres:${n.password}\n`).join(''));
  chmodSync(file, 0o600);
  return file;
}
