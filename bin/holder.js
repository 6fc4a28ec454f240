// The snapshot holder's process (src/copy/snapshotHolder.ts), started by `snapshot generate` and
// steep's own copy: like run.js, it runs from the bundle with its compiled code kept between runs
// (steep waits for its slot, which otherwise waits for ~60 modules to load and compile), and sets `navigator`
// before node-postgres loads.
require('./codeCache.js').keepDistCode('holder');
require('./navigator.js');
require('../dist/bundle/holder.cjs');
