import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileWriter } from '../../../src/copy/fileWriter.js';

const dir = mkdtempSync(join(tmpdir(), 'steep-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a file writer', () => {
  it('writes pieces of any size exact, with their SHA-256, then a second file; a piece may be reused once put', () => {
    const w = new FileWriter();
    const data = randomBytes(3 * 65_536 + 4097);
    // one buffer, overwritten with each piece as a socket's reused read buffer is
    const piece = Buffer.alloc(777);
    w.open(join(dir, 'first.copy'));
    for (let at = 0; at < data.length; at += piece.length) {
      const n = data.copy(piece, 0, at);
      w.put(piece.subarray(0, n));
    }
    expect(w.close(true)).toBe(sha256(data));
    expect(readFileSync(join(dir, 'first.copy')).equals(data)).toBe(true);

    const again = randomBytes(1);
    w.open(join(dir, 'again.copy'));
    w.put(again);
    expect(w.close(true)).toBe(sha256(again));
    expect(readFileSync(join(dir, 'again.copy')).equals(again)).toBe(true);
  });

  it('a file it cannot open is an error at once; a failed chunk is let go and the writer goes on', () => {
    const w = new FileWriter();
    expect(() => w.open(join(dir, 'no-such-dir', 'bad.copy'))).toThrow(/ENOENT/);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    w.open(join(dir, 'dropped.copy'));
    w.put(Buffer.from('partial'));
    expect(w.close(false)).toBe('');
    const data = randomBytes(5000);
    w.open(join(dir, 'next.copy'));
    w.put(data);
    expect(w.close(true)).toBe(sha256(data));
  });
});
