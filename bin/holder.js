// The snapshot holder's process (src/copy/snapshotHolder.ts), started by `snapshot generate` and
// steep's own copy: like run.js, it runs from the bundle (steep waits for its slot, which would
// otherwise wait for ~60 modules to load) and sets `navigator` before node-postgres loads.
require('node:module').enableCompileCache?.();
require('./navigator.js');
require('../dist/bundle/holder.cjs');
