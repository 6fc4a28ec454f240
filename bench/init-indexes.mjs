// bench init-indexes: steep's snapshot init (`init: { method: snapshot, parallel: 4 }`, its own
// copy, which builds a big empty table's secondary indexes after loading it) against PostgreSQL's
// `copy_data = true` into tables that already carry the same indexes, on the same ≥ 2 GB
// database of bench/init-physical.mjs (whose header says what each way does and checks).
// Target ≥ 1.5× faster. The same variables (BENCH_MB, BENCH_RUNS, BENCH_PARALLEL);
// BENCH_METHODS=physical,snapshot,native reports this figure and init-physical's from one database.
process.env.BENCH_METHODS ??= 'snapshot,native';
await import('./init-physical.mjs');
