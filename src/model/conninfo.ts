import type { ConnectionSpec } from './topology.js';

export const MASK = '****';

/** Quote a libpq keyword/value pair value: single quotes and backslashes escaped, always quoted when needed. */
function conninfoValue(v: string): string {
  if (v !== '' && /^[^\s'\\]+$/.test(v)) return v;
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The libpq keyword/value connection string a subscriber uses to reach a publisher.
 * With `maskPassword`, the password is shown as ****: that form is what plans display and save.
 */
export function buildConninfo(
  spec: ConnectionSpec,
  opts: { passfile?: string; maskPassword?: boolean } = {},
): string {
  const parts: Array<[string, string | number | undefined]> = [
    ['host', spec.host],
    ['port', spec.port],
    ['dbname', spec.database],
    ['user', spec.user],
    ['password', opts.passfile ? undefined : spec.password && (opts.maskPassword ? MASK : spec.password)],
    ['passfile', opts.passfile],
    ['sslmode', spec.sslmode],
    ['sslrootcert', spec.sslrootcert],
  ];
  return parts
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${conninfoValue(String(v))}`)
    .join(' ');
}
