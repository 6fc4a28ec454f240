const { spawn } = require('node:child_process');
const path = require('node:path');

/**
 * `snapshot generate` waits for its snapshot holder (bin/holder.js, src/copy/snapshotHolder.ts)
 * to create the slot, and a holder takes ~80 ms to start. run.js starts it here, before the CLI
 * loads (~60 ms), so it is ready when generate asks: generate of 1 GB 2,041 → 1,976 and
 * 2,023 → 1,987 ms (two runs, medians of 12, alternating). generate takes it from
 * `process[HOLDER_AHEAD]`; until then it keeps no process alive, so a steep that ends sooner (a
 * bad flag, --help) closes its input, and a holder whose input ends empty exits.
 */
const HOLDER_AHEAD = Symbol.for('steep.holderAhead');

/**
 * A holder process, detached, its input and output piped. Node.js reads the whole file
 * NODE_EXTRA_CA_CERTS names before any code runs (a system's CA bundle: ~30 ms of CPU, at
 * generate's start where both cores are busy), and a holder needs it only to check its server's
 * certificate against Node's default CA store (sslmode verify-ca or verify-full without
 * sslrootcert): `extraCaCerts` false leaves it out, and generate starts another holder when its
 * request needs it (snapshotHolder.ts).
 */
function spawnHolder(extraCaCerts) {
  const env = { ...process.env };
  if (!extraCaCerts) delete env.NODE_EXTRA_CA_CERTS;
  return spawn(process.execPath, [path.join(__dirname, 'holder.js')], {
    detached: true,
    env,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
}

function startHolderAhead() {
  const child = spawnHolder(false);
  child.unref();
  child.stdin.unref();
  child.stdout.unref();
  // a holder that could not start: generate starts its own
  child.on('error', () => {});
  process[HOLDER_AHEAD] = child;
}

/** Whether the arguments run `snapshot generate` (oclif takes `snapshot:generate` too). */
function generates(args) {
  return args[0] === 'snapshot:generate' || (args[0] === 'snapshot' && args[1] === 'generate');
}

module.exports = { spawnHolder, startHolderAhead, generates };
