/** pgpass's helpers (a dependency of pg), as libpqPassword (connectionParams.ts) uses them. */
declare module 'pgpass/lib/helper.js' {
  type Entry = Record<'host' | 'port' | 'database' | 'user' | 'password', string>;
  export function getFileName(env?: NodeJS.ProcessEnv): string;
  export function parseLine(line: string): Entry | null;
  export function isValidEntry(entry: Entry): boolean;
  export function match(
    connInfo: { host: string; port: number; database: string; user: string },
    entry: Entry,
  ): boolean;
}
