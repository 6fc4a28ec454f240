import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every .ts file under `dir`, its path joined to `dir` (the unit tests that read src/ as text). */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
