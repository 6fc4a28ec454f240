// node-postgres tells Cloudflare Workers from Node by `navigator.userAgent`, or else by building
// a fetch `Response`, which loads all of Node's fetch (undici: a large part of a start). Node 21+
// defines `navigator`; on Node 20 give it the same, so pg reads that instead. Required by run.js,
// and preloaded (`node --require`) into the snapshot holder's process, before pg loads.
if (globalThis.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}
