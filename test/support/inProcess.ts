import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { format } from 'node:util';

/**
 * steep's commands run inside the test's own process (the bundle's `runInProcess`, src/cli/main.ts),
 * as `bin/run.js` runs them in a process of their own, without starting Node and loading steep for
 * each call. What is a process's is made each call's own while it runs, so calls may run side by
 * side: what it writes to stdout and stderr (and a Node warning it raises), the environment it
 * reads (steep's, node-postgres's PG* variables, a spawned child's), its stdin. Its exit code is
 * its own in steep (cli/exitCode.ts). A call made outside any of them sees the process as it is.
 */

interface Call {
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  stdout: string;
  stderr: string;
}

const calls = new AsyncLocalStorage<Call>();

type RunInProcess = (argv: string[], dir: string) => Promise<number>;

/** Each tree's bundle, loaded once per process (a tree built before runInProcess has none). */
const bundles = new Map<string, RunInProcess | null>();

/**
 * The bundle's runInProcess for the tree of `bin` (its bin/run.js), loaded as bin/run.js loads
 * it; null when that tree's bundle has none (an older build, STEEP_TEST_BIN): its calls spawn.
 */
export function inProcessRunner(bin: string): RunInProcess | null {
  const root = join(dirname(bin), '..');
  if (!bundles.has(root)) bundles.set(root, load(bin, root));
  return bundles.get(root) ?? null;
}

function load(bin: string, root: string): RunInProcess | null {
  const main = join(root, 'dist/bundle/main.cjs');
  if (!existsSync(main)) return null;
  const require = createRequire(bin);
  // what bin/run.js does before it loads the bundle
  require(join(dirname(bin), 'navigator.js'));
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
  const g = globalThis as { oclif?: Record<string, unknown> };
  g.oclif = { ...g.oclif, enableAutoTranspile: false };
  // routed first: a module that keeps process.stderr.write as it found it at load writes to its call too
  routeProcess();
  return (require(main) as { runInProcess?: RunInProcess }).runInProcess ?? null;
}

/** Run `argv` in this process with `env` and `input` as its own; its exit code and output. */
export async function runCall(
  run: RunInProcess,
  root: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  input: string,
  /** told the call's output as it grows: what a call past its ceiling had printed */
  started?: (output: { readonly stdout: string; readonly stderr: string }) => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const own = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
  const call: Call = { env: own, stdin: Readable.from(input === '' ? [] : [input]), stdout: '', stderr: '' };
  started?.(call);
  routeConsole();
  const code = await calls.run(call, () => run(argv, root));
  return { code, stdout: call.stdout, stderr: call.stderr };
}

let routed = false;

/** Make stdout, stderr, the environment, stdin and warnings each call's own (once per process). */
function routeProcess(): void {
  if (routed) return;
  routed = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const call = calls.getStore();
      if (!call) return write(chunk, ...rest);
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
      call[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(encoding);
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (done) process.nextTick(done);
      return true;
    }) as typeof stream.write;
  }
  const own = process.env;
  const envOf = () => calls.getStore()?.env ?? own;
  process.env = new Proxy(own, {
    get: (_, key) => Reflect.get(envOf(), key),
    set: (_, key, value) => Reflect.set(envOf(), key, String(value)),
    has: (_, key) => Reflect.has(envOf(), key),
    deleteProperty: (_, key) => Reflect.deleteProperty(envOf(), key),
    ownKeys: () => Reflect.ownKeys(envOf()),
    getOwnPropertyDescriptor: (_, key) => {
      const value = envOf()[key as string];
      return value === undefined
        ? undefined
        : { value, writable: true, enumerable: true, configurable: true };
    },
  });
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', {
    configurable: true,
    enumerable: stdin.enumerable,
    get: () => calls.getStore()?.stdin ?? stdin.get!.call(process),
  });
  // a warning (node-postgres's on queries issued together) is the call's, as its process prints it
  process.on('warning', (w: Error & { code?: string }) => {
    const call = calls.getStore();
    if (call) call.stderr += `(node:${process.pid}) ${w.code ? `[${w.code}] ` : ''}${w.name}: ${w.message}\n`;
  });
}

const routedConsoles = new WeakSet<Console>();

/**
 * oclif writes help, `--version` and its own errors with console.log and console.error, which
 * vitest takes over in its workers: inside a call they write to the call's stdout and stderr.
 */
function routeConsole(): void {
  const c = globalThis.console;
  if (routedConsoles.has(c)) return;
  routedConsoles.add(c);
  for (const [method, name] of [
    ['log', 'stdout'],
    ['info', 'stdout'],
    ['error', 'stderr'],
    ['warn', 'stderr'],
  ] as const) {
    const own = c[method].bind(c);
    c[method] = (...args: unknown[]) => {
      const call = calls.getStore();
      if (call) call[name] += `${format(...args)}\n`;
      else own(...args);
    };
  }
}
