import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyDataRows, READ_BUFFER_BYTES } from '../../../src/db/copyDataRows.js';
import { protocolMessage } from '../../support/protocol.js';

const mover = () => {
  const rows = copyDataRows();
  if (!rows) throw new Error('no WebAssembly memory on this machine');
  return rows;
};

describe('the WebAssembly mover of CopyData rows', () => {
  it('moves the rows of whole CopyData messages over their headers, empty rows too', () => {
    const rows = [randomBytes(90), Buffer.alloc(0), randomBytes(1), randomBytes(3000)];
    const read = Buffer.concat(rows.map((r) => protocolMessage('d', r)));
    const m = mover();
    expect(m.buffer.length).toBe(READ_BUFFER_BYTES);
    read.copy(m.buffer, 0);
    expect(m.move(0, read.length, 0)).toBe(read.length);
    expect(m.moved).toBe(3091);
    expect(m.buffer.subarray(0, m.moved).equals(Buffer.concat(rows))).toBe(true);
  });

  it('moves rows of every length from 0 to 300 bytes (16 at a time or by memory.copy) exactly', () => {
    const m = mover();
    const rows = Array.from({ length: 301 }, (_, n) => randomBytes(n));
    // in one read and then each in a read of its own at the end of the buffer (its last 16 bytes
    // the memory's last)
    for (const group of [rows.slice(0, 150), rows.slice(150), ...rows.map((r) => [r])]) {
      const read = Buffer.concat(group.map((r) => protocolMessage('d', r)));
      const from = group.length === 1 ? READ_BUFFER_BYTES - read.length : 0;
      const to = from + read.length;
      read.copy(m.buffer, from);
      expect(m.move(from, to, from)).toBe(to);
      expect(m.moved).toBe(from + read.length - 5 * group.length);
      expect(m.buffer.subarray(from, m.moved).equals(Buffer.concat(group))).toBe(true);
    }
  });

  it('starts where it is told, moves behind what was moved before, and stops at each kind of end', () => {
    const m = mover();
    const a = randomBytes(40);
    const b = randomBytes(70);
    // 7 bytes of an earlier row, the end of a message begun in another read
    const read = Buffer.concat([
      randomBytes(7),
      protocolMessage('d', a),
      protocolMessage('d', b),
      protocolMessage('c', Buffer.alloc(0)),
    ]);
    read.copy(m.buffer, 0);
    const done = 7 + 45 + 75;
    // another kind (CopyDone): stops at it
    expect(m.move(7, read.length, 7)).toBe(done);
    expect(m.moved).toBe(7 + 110);
    expect(m.buffer.subarray(7, 117).equals(Buffer.concat([a, b]))).toBe(true);

    const cut = Buffer.concat([protocolMessage('d', a), protocolMessage('d', b)]);
    cut.copy(m.buffer, 0);
    // a row cut by the read's end: stops before its header, the first row moved
    expect(m.move(0, 45 + 30, 0)).toBe(45);
    expect(m.moved).toBe(40);
    cut.copy(m.buffer, 0);
    // a header cut by the read's end (4 of its 5 bytes): stops before it
    expect(m.move(0, 45 + 4, 0)).toBe(45);
    // nothing to do: where it began, nothing moved
    expect(m.move(45, 45, 12)).toBe(45);
    expect(m.moved).toBe(12);
  });

  it('gives each read buffer its own memory', () => {
    const one = mover();
    const two = mover();
    one.buffer.fill(1);
    two.buffer.fill(2);
    expect(one.buffer[0]).toBe(1);
    expect(one.buffer.buffer).not.toBe(two.buffer.buffer);
  });

  it('is none where the address space is limited (ulimit -v), so the caller moves the rows itself', () => {
    // a WebAssembly memory reserves ~10 GB of address space; its module from dist (`npm test` builds first)
    const dist = new URL('../../../dist/db/copyDataRows.js', import.meta.url).href;
    const script = `import('${dist}').then((m) => console.log(m.copyDataRows() === null))`;
    const out = execFileSync('bash', ['-c', `ulimit -v 4000000 && exec node -e "${script}"`]);
    expect(out.toString().trim()).toBe('true');
    expect(copyDataRows()).not.toBeNull();
  });
});
