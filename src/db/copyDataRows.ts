/**
 * Moves the rows of a socket read's CopyData messages together, over their 5-byte headers, in
 * a small WebAssembly function: the read buffer of a bulk COPY session (readBufferSocket.ts) is
 * that function's memory, so the rows are moved where the socket put them.
 *
 * Why not JavaScript: PostgreSQL sends every row of a `COPY … TO STDOUT` in a message of its
 * own, and a `copyWithin` per row, called from JavaScript, is a call into the engine per row.
 * Here the loop and the move run as machine code. For the 9.8 M rows of `snapshot generate`'s
 * 1 GB bench, the event loop's CPU went from 800–810 to 630–670 ms (3 runs each), and generate,
 * whose cores are already busy with the server, from 2,172 to 2,069 ms (medians of 12,
 * alternating). A row of 16–256 bytes is moved 16 bytes at a time by the function itself:
 * `memory.copy` is a call out of the function into the engine's copy, per row (~100 bytes in
 * the bench), which cost more than the copy.
 *
 * The module is assembled below from its instructions (WebAssembly's binary format), so the
 * code is read here rather than shipped as bytes made elsewhere. A WebAssembly memory reserves
 * ~10 GB of address space (its guard pages); where a limit on it (`ulimit -v`) refuses that,
 * there is no mover and the caller moves the rows itself.
 */

/** A read buffer whose CopyData rows can be moved together in place. */
export interface CopyDataRows {
  /** the read buffer: 64 kB at the start of the function's memory */
  readonly buffer: Buffer;
  /**
   * Move the rows of the whole CopyData messages from `from` on (up to `to`, where a read ends)
   * to `at`, one after the other; stop at a message of another kind or cut by `to`. Returns
   * where it stopped; `moved` is then the end of the rows moved to `at`.
   */
  move(from: number, to: number, at: number): number;
  readonly moved: number;
}

/** The read buffer's size: one WebAssembly page. */
export const READ_BUFFER_BYTES = 64 * 1024;

// parameters and locals of the function, by index
const FROM = 0;
const TO = 1;
const AT = 2;
const LENGTH = 3;
const END = 4;
const N = 5;
const SRC = 6;
const I = 7;
const TAIL = 8;

/** unsigned LEB128 */
function u(n: number): number[] {
  const out: number[] = [];
  for (let rest = n >>> 0; ; ) {
    const b = rest & 0x7f;
    rest >>>= 7;
    if (rest === 0) return [...out, b];
    out.push(b | 0x80);
  }
}

/** `i32.const n`, n signed LEB128 (0 ≤ n < 8192) */
const i32 = (n: number): number[] => (n < 64 ? [0x41, n] : [0x41, (n & 0x7f) | 0x80, n >> 7]);
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
/** `i32.load8_u offset=k` of the address on the stack */
const byteAt = (k: number): number[] => [0x2d, 0, k];
const [SUB, ADD, SHL, OR, AND, NE, LT_U, GT_U, LE_U, GE_U] = [
  0x6b, 0x6a, 0x74, 0x72, 0x71, 0x47, 0x49, 0x4b, 0x4d, 0x4f,
];
const BR_IF = (depth: number): number[] => [0x0d, depth];
/** `v128.load` / `v128.store` of the address on the stack (alignment 1, offset 0) */
const LOAD16 = [0xfd, 0x00, 0, 0];
const STORE16 = [0xfd, 0x0b, 0, 0];

/**
 * (func (param from to at) (result i32) (local length end)
 *   block $done  loop $next
 *     to - from < 5                        → $done   (no whole header)
 *     memory[from] != 'd'                  → $done   (not CopyData)
 *     length = big-endian u32 at from + 1             (counts itself, not the kind byte)
 *     end = from + 1 + length
 *     end > to                             → $done   (the row goes on in the next read)
 *     n = length - 4;  src = from + 5
 *     if 16 ≤ n ≤ 256                                 (a row moved 16 bytes at a time, forward:
 *       tail = memory[src + n - 16, 16 bytes]          its last 16 bytes read before any write,
 *       for (i = 0; i + 16 < n; i += 16)               as a write can reach them when at is
 *         memory[at + i, 16 bytes] = memory[src + i]   less than 16 bytes before src)
 *       memory[at + n - 16, 16 bytes] = tail
 *     else memory.copy(at, src, n)
 *     at += n;  from = end;  → $next
 *   end end
 *   moved = at;  return from)
 */
const CODE = [
  ...[0x02, 0x40, 0x03, 0x40], // block, loop (no result)
  ...get(TO),
  ...get(FROM),
  SUB,
  ...i32(5),
  LT_U,
  ...BR_IF(1),
  ...get(FROM),
  ...byteAt(0),
  ...i32(0x64),
  NE,
  ...BR_IF(1),
  ...get(FROM),
  ...byteAt(1),
  ...i32(24),
  SHL,
  ...get(FROM),
  ...byteAt(2),
  ...i32(16),
  SHL,
  OR,
  ...get(FROM),
  ...byteAt(3),
  ...i32(8),
  SHL,
  OR,
  ...get(FROM),
  ...byteAt(4),
  OR,
  ...set(LENGTH),
  ...get(FROM),
  ...i32(1),
  ADD,
  ...get(LENGTH),
  ADD,
  ...set(END),
  ...get(END),
  ...get(TO),
  GT_U,
  ...BR_IF(1),
  ...get(LENGTH),
  ...i32(4),
  SUB,
  ...set(N),
  ...get(FROM),
  ...i32(5),
  ADD,
  ...set(SRC),
  ...get(N),
  ...i32(16),
  GE_U,
  ...get(N),
  ...i32(256),
  LE_U,
  AND,
  ...[0x04, 0x40], // if (no result)
  ...get(SRC),
  ...get(N),
  ADD,
  ...i32(16),
  SUB,
  ...LOAD16,
  ...set(TAIL),
  ...i32(0),
  ...set(I),
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...get(I),
  ...i32(16),
  ADD,
  ...get(N),
  GE_U,
  ...BR_IF(1),
  ...get(AT),
  ...get(I),
  ADD,
  ...get(SRC),
  ...get(I),
  ADD,
  ...LOAD16,
  ...STORE16,
  ...get(I),
  ...i32(16),
  ADD,
  ...set(I),
  ...[0x0c, 0], // br (loop)
  ...[0x0b, 0x0b], // end loop, end block
  ...get(AT),
  ...get(N),
  ADD,
  ...i32(16),
  SUB,
  ...get(TAIL),
  ...STORE16,
  0x05, // else
  ...get(AT),
  ...get(SRC),
  ...get(N),
  ...[0xfc, 0x0a, 0, 0], // memory.copy (bulk memory)
  0x0b, // end if
  ...get(AT),
  ...get(N),
  ADD,
  ...set(AT),
  ...get(END),
  ...set(FROM),
  ...[0x0c, 0], // br $next
  ...[0x0b, 0x0b], // end loop, end block
  ...[0x20, AT, 0x24, 0], // global.set $moved
  ...get(FROM),
  0x0b,
];

const vector = (items: number[][]): number[] => [...u(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...u(body.length), ...body];
const name = (s: string): number[] => [...u(s.length), ...Buffer.from(s, 'latin1')];
const I32 = 0x7f;
const V128 = 0x7b;
const body = [
  ...vector([
    [5, I32],
    [1, V128],
  ]),
  ...CODE,
]; // locals: length, end, n, src, i; tail

const MODULE = Buffer.from([
  ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0], // \0asm, version 1
  ...section(1, vector([[0x60, ...vector([[I32], [I32], [I32]]), ...vector([[I32]])]])), // (i32 i32 i32) → i32
  ...section(3, vector([[0]])), // function 0 has type 0
  ...section(5, vector([[0, 1]])), // memory: 1 page at least
  ...section(6, vector([[I32, 1, ...i32(0), 0x0b]])), // (global $moved (mut i32) (i32.const 0))
  ...section(
    7,
    vector([
      [...name('memory'), 2, 0],
      [...name('moved'), 3, 0],
      [...name('move'), 0, 0],
    ]),
  ),
  ...section(10, vector([[...u(body.length), ...body]])),
]);

let compiled: WebAssembly.Module | null = null;

/** A read buffer with its mover; null where no WebAssembly memory can be had. */
export function copyDataRows(): CopyDataRows | null {
  let instance: WebAssembly.Instance;
  try {
    compiled ??= new WebAssembly.Module(MODULE);
    instance = new WebAssembly.Instance(compiled);
  } catch {
    return null;
  }
  const { memory, move, moved } = instance.exports as {
    memory: WebAssembly.Memory;
    move: (from: number, to: number, at: number) => number;
    moved: WebAssembly.Global;
  };
  return {
    buffer: Buffer.from(memory.buffer, 0, READ_BUFFER_BYTES),
    move,
    get moved() {
      return moved.value as number;
    },
  };
}
