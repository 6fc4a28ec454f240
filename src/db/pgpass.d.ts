/** pgpass's helpers (a dependency of pg), as libpqPassword (connectionParams.ts) uses them. */
declare module 'pgpass/lib/helper.js' {
  interface Entry {
    host: string;
    port: string;
    database: string;
    user: string;
    password: string;
  }
  const helper: {
    getFileName(env?: NodeJS.ProcessEnv): string;
    parseLine(line: string): Entry | null;
    isValidEntry(entry: Entry): boolean;
    match(connInfo: { host: string; port: number; database: string; user: string }, entry: Entry): boolean;
  };
  export default helper;
}
