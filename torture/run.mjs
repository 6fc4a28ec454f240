// `npm run torture [-- --coverage]`: with --coverage, print what CI's seeds draw (torture/coverage.ts)
// as one JSON document, from the draw alone: no build, no server. Otherwise build if dist/ is
// stale, then run the seeded sequences (torture/torture.test.ts) with any other arguments.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const run = (cmd, list) => spawnSync(cmd, list, { stdio: 'inherit' }).status ?? 1;

if (args.includes('--coverage')) {
  const { createServer } = await import('vite');
  const server = await createServer({
    configFile: false,
    appType: 'custom',
    logLevel: 'silent',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  try {
    const { coverage } = await server.ssrLoadModule('/torture/coverage.ts');
    process.stdout.write(`${JSON.stringify(coverage(), null, 2)}\n`);
  } finally {
    await server.close();
  }
} else {
  if (run('node', ['scripts/build-stamp.mjs', 'check']) !== 0 && run('npm', ['run', 'build']) !== 0)
    process.exit(1);
  process.exit(run('npx', ['vitest', 'run', '--config', 'torture/vitest.config.ts', ...args]));
}
