import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DIRECT_ALIGN, DirectFile, StagingMemory } from '../../../src/copy/directFile.js';

const BLOCK = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'steep-direct-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether this directory's file system takes O_DIRECT at all (tmpfs before Linux 6.6 does not). */
function directAllowed(): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}

/** Write `data` to a new file in pieces of the given sizes (cycled); what the file holds after. */
function roundTrip(
  name: string,
  data: Buffer,
  pieces: number[],
  memory: StagingMemory,
): { bytes: Buffer; direct: boolean } {
  const path = join(dir, name);
  const f = new DirectFile(path, memory);
  const direct = f.isDirect;
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(pieces[i % pieces.length]!, data.length - at);
    f.write(data.subarray(at, at + n));
    at += n;
  }
  f.close();
  return { bytes: readFileSync(path), direct };
}

describe('DirectFile', () => {
  const sizes = [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, BLOCK, BLOCK + 1, 3 * BLOCK + 123];
  const pieces = [[BLOCK], [65_536], [1, 4095, 4097, 100_003], [BLOCK, 7], [(5 * BLOCK) / 2]];

  it('writes exactly the bytes given, for every size and cut, one staging memory for all the files', () => {
    const memory = new StagingMemory(BLOCK);
    const allowed = directAllowed();
    let n = 0;
    // largest first: a later, shorter file must not keep bytes of the alignment probe or of another file
    for (const size of [...sizes].reverse()) {
      const data = randomBytes(size);
      for (const cut of pieces) {
        const { bytes, direct } = roundTrip(`f${n++}`, data, cut, memory);
        expect(bytes.length).toBe(size);
        expect(bytes.equals(data)).toBe(true);
        expect(direct).toBe(allowed);
      }
    }
  });

  it('writes the ordinary way when no alignment was found, the same bytes', () => {
    const memory = new StagingMemory(BLOCK);
    memory.usable = false;
    const data = randomBytes(2 * BLOCK + 5);
    const { bytes, direct } = roundTrip('ordinary', data, [300_001], memory);
    expect(direct).toBe(false);
    expect(bytes.equals(data)).toBe(true);
  });

  it('a file let go without close keeps what went out and leaves no descriptor open', () => {
    const memory = new StagingMemory(BLOCK);
    const path = join(dir, 'failed');
    const f = new DirectFile(path, memory);
    f.write(randomBytes(BLOCK + 10));
    f.release();
    f.release();
    // a directly written file holds the aligned part (an ordinary one all of it); the caller deletes it
    expect([BLOCK, BLOCK + 10]).toContain(readFileSync(path).length);
  });
});
