import { parseConnectionUrl } from '../db/connectionParams.js';
import { registerSecret } from '../db/mask.js';
import { literalPart } from './interpolate.js';
import type { Path } from './paths.js';
import type { SourceMap } from './positions.js';
import type { ProblemList } from './problems.js';
import type { DocumentReader } from './reader.js';

const HINT = `use \`\${env:NAME}\`, PGPASSWORD or ~/.pgpass instead`;

/**
 * A password written in the file itself (not through `${env:…}`) is accepted with a warning.
 * The warning never shows the password, nor the URL that holds it, and the password is
 * registered for masking. `raw` is the document before interpolation.
 */
export function checkLiteralPasswords(
  raw: DocumentReader,
  positions: SourceMap,
  problems: ProblemList,
): void {
  /** Warn of a literal password (registered for masking, with `alsoMask`) at `path`. */
  const literal = (password: string | undefined, path: Path, message: string, alsoMask?: string) => {
    if (password === undefined || literalPart(password) === '') return;
    registerSecret(password);
    if (alsoMask !== undefined) registerSecret(alsoMask);
    problems.warning('literal-password', message, positions.value(path), HINT);
  };
  for (const node of raw.keys(['nodes'])) {
    const passwordAt = ['nodes', node, 'password'];
    literal(raw.string(passwordAt), passwordAt, `node \`${node}\`: \`password\` is written in the file`);
    const urls: Array<{ path: Path; what: string }> = ['url', 'replicationUrl'].map((key) => ({
      path: ['nodes', node, key],
      what: `\`${key}\``,
    }));
    (raw.list(['nodes', node, 'standbys']) ?? []).forEach((item, i) => {
      const what = `standby ${i + 1}`;
      const standby = ['nodes', node, 'standbys', i];
      urls.push({ path: typeof item === 'string' ? standby : [...standby, 'url'], what });
      const at = [...standby, 'password'];
      if (typeof item !== 'string')
        literal(raw.string(at), at, `node \`${node}\`: the password of ${what} is written in the file`);
    });
    for (const { path, what } of urls) {
      const url = raw.string(path);
      const parsed = url === undefined ? undefined : parseConnectionUrl(url);
      if (parsed?.ok)
        literal(
          parsed.url.rawPassword,
          path,
          `node \`${node}\`: ${what} holds a literal password`,
          parsed.url.password,
        );
    }
  }
}
