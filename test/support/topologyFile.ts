import type { TestNode } from './cluster.js';

/** The `nodes:` block of a steep.yaml for test nodes; passwords come from env vars (`<NAME>_PGPASSWORD`). */
export function nodesYaml(nodes: TestNode[]): string {
  return [
    'nodes:',
    ...nodes.flatMap((n) => [
      `  ${n.name}:`,
      `    url: postgres://postgres@127.0.0.1:${n.port}/app`,
      `    password: \${env:${passwordVar(n)}}`,
    ]),
  ].join('\n');
}

export function passwordVar(n: TestNode): string {
  return `${n.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PGPASSWORD`;
}

/** Environment with every node's password, for runSteep. */
export function passwordEnv(nodes: TestNode[]): Record<string, string> {
  return Object.fromEntries(nodes.map((n) => [passwordVar(n), n.password]));
}

/**
 * How long a wait lasts before it fails as a hang. Only a hang: a test waits for a condition,
 * and how fast it comes is measured in bench/, never here (a loaded 2-core machine running
 * other suites' servers takes several times the quiet figures).
 */
export const HANG_MS = 120_000;

/**
 * Poll until `check` returns true (or throw after `timeoutMs`, a hang). Between two checks it
 * waits 100 ms, or as long as the last check took when that was longer: a check that runs steep
 * (half a second of CPU, and as much again in its servers) then uses at most half of the time,
 * where back to back it kept a core of the 2 busy with nothing but asking.
 */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = HANG_MS,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const started = Date.now();
    if (await check()) return;
    const took = Date.now() - started;
    await new Promise((r) => setTimeout(r, Math.max(100, took)));
  }
  throw new Error(`still waiting for ${what} after ${timeoutMs} ms: a hang`);
}

/**
 * A steep.yaml of two nodes: `publisher` publishes `tables` as `<p>_pub` to the subscription
 * `<subscriber>_<p>` on `subscriber`; `settings` are lines under `settings:` (`lockTimeout: 5s`).
 */
export function pairYaml(opts: {
  topology: string;
  publisher: TestNode;
  subscriber: TestNode;
  p: string;
  tables: string[];
  settings?: string[];
}): string {
  const { publisher: pub, subscriber: sub, p } = opts;
  return [
    'version: 1',
    `topology: ${opts.topology}`,
    nodesYaml([pub, sub]),
    ...(opts.settings ? ['settings:', ...opts.settings.map((s) => `  ${s}`)] : []),
    'publications:',
    `  ${p}_pub:`,
    `    node: ${pub.name}`,
    `    tables: [${opts.tables.join(', ')}]`,
    'subscriptions:',
    `  ${sub.name}_${p}:`,
    `    node: ${sub.name}`,
    `    from: ${pub.name}`,
    `    publications: [${p}_pub]`,
    '',
  ].join('\n');
}
