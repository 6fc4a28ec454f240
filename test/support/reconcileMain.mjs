// Runs a merge's reconcile in its own process (so a test can SIGKILL it): the built steep's
// workflow, as apply's merge init calls it. Prints the result as JSON.
//   node reconcileMain.mjs CONFIG NAME STRATEGY [CONFLICTS_FILE] [BATCH_ROWS]
import { loadTopology } from '../../dist/config/load.js';
import { parseStrategy, resolveStrategy } from '../../dist/model/mergeStrategy.js';
import { mergePairOf } from '../../dist/workflows/mergeAnalyze.js';
import { reconcilePair } from '../../dist/workflows/mergeReconcile.js';

const [config, name, text, file, batch] = process.argv.slice(2);
const { topology } = await loadTopology(config);
const pair = mergePairOf(topology, name);
const strategy = resolveStrategy(parseStrategy(text), { source: pair.a, target: pair.b, first: pair.a });
try {
  const result = await reconcilePair(topology, pair, strategy, {
    conflictsFile: file || undefined,
    batchRows: batch ? Number(batch) : undefined,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
