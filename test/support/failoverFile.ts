import type { TestNode } from './cluster.js';
import { passwordVar } from './topologyFile.js';

/**
 * The steep.yaml of the failover tests: node `pub` at `url` declaring `standbys` (none: the key
 * left out), node `sub`, and one subscription of one table, reading too each of `more` (one
 * table each, declared on `pub`) in that order, bar those `unread`. `pub`'s password is `PUB_PGPASSWORD`, so a test re-points the file
 * without renaming the variable.
 */
export function failoverFile(o: {
  topology: string;
  table: string;
  publication: string;
  subscription: string;
  url: TestNode;
  standbys: TestNode[];
  sub: TestNode;
  more?: { publication: string; table: string; unread?: boolean }[];
}): string {
  const more = o.more ?? [];
  return [
    'version: 1',
    `topology: ${o.topology}`,
    'nodes:',
    '  pub:',
    `    url: postgres://postgres@127.0.0.1:${o.url.port}/app`,
    `    password: \${env:PUB_PGPASSWORD}`,
    ...(o.standbys.length > 0
      ? ['    standbys:', ...o.standbys.map((s) => `      - postgres://postgres@127.0.0.1:${s.port}/app`)]
      : []),
    '  sub:',
    `    url: postgres://postgres@127.0.0.1:${o.sub.port}/app`,
    `    password: \${env:${passwordVar(o.sub)}}`,
    'publications:',
    `  ${o.publication}:`,
    '    node: pub',
    `    tables: [public.${o.table}]`,
    ...more.flatMap((p) => [`  ${p.publication}:`, '    node: pub', `    tables: [public.${p.table}]`]),
    'subscriptions:',
    `  ${o.subscription}:`,
    '    node: sub',
    '    from: pub',
    `    publications: [${[o.publication, ...more.filter((p) => !p.unread).map((p) => p.publication)].join(', ')}]`,
    '',
  ].join('\n');
}
