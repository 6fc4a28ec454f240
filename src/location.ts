/**
 * Where steep's own files are, wherever this module was compiled to: `dist/location.js` (tsc),
 * `src/location.ts` (the tests), or a file of the bundle under `dist/bundle/` (scripts/bundle.mjs,
 * which the CLI runs). Paths from a module's own `import.meta.url` break in the bundle, whose
 * files sit at other depths.
 */
const url = import.meta.url;
const bundled = url.lastIndexOf('/dist/bundle/');

/** The directory of the compiled modules: `dist/` (`src/` under the tests). */
export const MODULES_DIR: URL = bundled >= 0 ? new URL(`${url.slice(0, bundled)}/dist/`) : new URL('.', url);

/** The package's root directory (package.json, schemas/, examples/). */
export const PACKAGE_ROOT: URL = new URL('../', MODULES_DIR);
