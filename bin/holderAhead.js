const { spawn } = require('node:child_process');
const path = require('node:path');

/**
 * `snapshot generate` waits for its snapshot holder (bin/holder.js, src/copy/snapshotHolder.ts)
 * to create the slot, and a holder takes ~80 ms to start. run.js starts it here, before the CLI
 * loads (~60 ms), so it is ready when generate asks: generate of 1 GB 2,041 → 1,976 and
 * 2,023 → 1,987 ms (two runs, medians of 12, alternating). generate takes it from
 * `process[HOLDER_AHEAD]`; until then it keeps no process alive, so a steep that ends sooner (a
 * bad flag, --help) closes its input, and a holder whose input ends empty exits. Spawned as
 * snapshotHolder.ts spawns one.
 */
const HOLDER_AHEAD = Symbol.for('steep.holderAhead');

function startHolderAhead() {
  const child = spawn(process.execPath, [path.join(__dirname, 'holder.js')], {
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
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

module.exports = { startHolderAhead, generates };
