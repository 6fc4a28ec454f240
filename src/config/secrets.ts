import { parseConnectionUrl } from '../db/connectionParams.js';
import { registerSecret } from '../db/mask.js';
import { literalPart } from './interpolate.js';
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
  for (const node of raw.keys(['nodes'])) {
    const password = raw.string(['nodes', node, 'password']);
    if (password !== undefined && literalPart(password) !== '') {
      registerSecret(password);
      problems.warning(
        'literal-password',
        `node \`${node}\`: \`password\` is written in the file`,
        positions.value(['nodes', node, 'password']),
        HINT,
      );
    }
    const urls: Array<{ path: (string | number)[]; what: string }> = ['url', 'replicationUrl'].map((key) => ({
      path: ['nodes', node, key],
      what: `\`${key}\``,
    }));
    (raw.list(['nodes', node, 'standbys']) ?? []).forEach((item, i) => {
      const what = `standby ${i + 1}`;
      urls.push({
        path:
          typeof item === 'string' ? ['nodes', node, 'standbys', i] : ['nodes', node, 'standbys', i, 'url'],
        what,
      });
      const at = ['nodes', node, 'standbys', i, 'password'];
      const password = typeof item === 'string' ? undefined : raw.string(at);
      if (password !== undefined && literalPart(password) !== '') {
        registerSecret(password);
        problems.warning(
          'literal-password',
          `node \`${node}\`: the password of ${what} is written in the file`,
          positions.value(at),
          HINT,
        );
      }
    });
    for (const { path, what } of urls) {
      const url = raw.string(path);
      if (url === undefined) continue;
      const parsed = parseConnectionUrl(url);
      if (parsed.ok && parsed.url.rawPassword !== undefined && literalPart(parsed.url.rawPassword) !== '') {
        registerSecret(parsed.url.rawPassword);
        registerSecret(parsed.url.password);
        problems.warning(
          'literal-password',
          `node \`${node}\`: ${what} holds a literal password`,
          positions.value(path),
          HINT,
        );
      }
    }
  }
}
