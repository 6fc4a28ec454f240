/** PostgreSQL WAL positions (`pg_lsn`, printed `X/Y` in hex). */

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsn(text: string): boolean {
  return LSN.test(text.trim());
}

/** `16/B374D848` → 0x16B374D848; throws on anything else. */
export function lsnValue(text: string): bigint {
  const m = LSN.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** <0, 0, >0 like a comparator. */
export function compareLsn(a: string, b: string): number {
  const d = lsnValue(a) - lsnValue(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** The canonical spelling PostgreSQL prints: upper-case hex, no leading zeros. */
export function normaliseLsn(text: string): string {
  const v = lsnValue(text);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}
