/**
 * Global flags written before the command (`steep --no-color plan`, `steep -c prod.yaml status`):
 * oclif reads the first word as the command, so they are moved after the command's words (before
 * a `--`, past which everything is an argument). Flags that take a value keep it.
 */
const BOOLEAN = new Set(['--no-color']);
const VALUED = new Set(['--config', '-c', '--log-format']);

export function globalFlagsLast(argv: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (BOOLEAN.has(a)) leading.push(a);
    else if (VALUED.has(name) && a.includes('=')) leading.push(a);
    else if (VALUED.has(a) && i + 1 < argv.length) {
      leading.push(a, argv[i + 1]!);
      i += 1;
    } else break;
    i += 1;
  }
  if (leading.length === 0 || i >= argv.length) return [...argv];
  const rest = argv.slice(i);
  const end = rest.indexOf('--');
  return end < 0 ? [...rest, ...leading] : [...rest.slice(0, end), ...leading, ...rest.slice(end)];
}
