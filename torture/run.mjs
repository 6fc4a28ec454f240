// `npm run torture [-- flags]`: with --coverage, print what CI's seeds and the nightly set draw
// (torture/coverage.ts) as one JSON document, from the draw alone: no build, no server. Otherwise
// build if dist/ is stale, then run the sequences (torture/torture.test.ts). Flags (README.md):
// --seed N, --runs N, --path P --replay-path R (replay one counterexample), --no-shrink,
// --shrink-minutes N, --open, --ops a,b; --nightly [--shard I/N] [--report FILE] (the nightly
// set, torture/nightly.ts); any other argument goes to vitest.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const run = (cmd, list, env = process.env) => spawnSync(cmd, list, { stdio: 'inherit', env }).status ?? 1;

const VALUED = {
  '--seed': 'TORTURE_SEED',
  '--runs': 'TORTURE_RUNS',
  '--path': 'TORTURE_PATH',
  '--replay-path': 'TORTURE_REPLAY_PATH',
  '--shrink-minutes': 'TORTURE_SHRINK_MINUTES',
  '--ops': 'TORTURE_OPS',
  '--shard': 'TORTURE_SHARD',
  '--report': 'TORTURE_REPORT',
};
const env = { ...process.env };
const rest = [];
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split(/=(.*)/s, 2);
  if (flag in VALUED) {
    const value = inline ?? args[++i];
    if (value === undefined) {
      console.error(`torture: ${flag} needs a value`);
      process.exit(1);
    }
    env[VALUED[flag]] = value;
  } else if (args[i] === '--no-shrink') env.TORTURE_SHRINK = '0';
  else if (args[i] === '--open') env.TORTURE_OPEN = '1';
  else if (args[i] === '--nightly') env.TORTURE_NIGHTLY = '1';
  else rest.push(args[i]);
}

const shard = /^(\d+)\/(\d+)$/.exec(env.TORTURE_SHARD ?? '1/1');
if (!shard || +shard[1] < 1 || +shard[1] > +shard[2]) {
  console.error(`torture: --shard ${env.TORTURE_SHARD}: give I/N with 1 ≤ I ≤ N, e.g. --shard 2/8`);
  process.exit(1);
}
if (env.TORTURE_SHARD && env.TORTURE_NIGHTLY !== '1') {
  console.error('torture: --shard splits the nightly set: give --nightly too');
  process.exit(1);
}

if (rest.includes('--coverage')) {
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
  process.exit(run('npx', ['vitest', 'run', '--config', 'torture/vitest.config.ts', ...rest], env));
}
