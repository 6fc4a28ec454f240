/** A PostgreSQL protocol message: its kind, a 4-byte length that counts itself, the payload. */
export function protocolMessage(kind: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}
