// The snapshot holder's process (src/copy/snapshotHolder.ts), started by `snapshot generate` and
// steep's own copy: like run.js, it runs from the bundle with its compiled code kept between runs
// (steep waits for its slot: ~100 ms of loading ~60 modules otherwise), and sets `navigator`
// before node-postgres loads.
require('./codeCache.js').keepDistCode('holder');
require('./navigator.js');
require('../dist/bundle/holder.cjs');
