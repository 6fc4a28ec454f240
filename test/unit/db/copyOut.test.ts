import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Connection } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyOut } from '../../../src/db/copyOut.js';
import { ReadBufferSocket } from '../../../src/db/readBufferSocket.js';
import { protocolMessage } from '../../support/protocol.js';

/*
 * CopyOut's parsing of a COPY's messages, however the socket's reads cut them: a local server
 * sends a made-up COPY response in pieces cut inside headers, inside rows and between messages,
 * each piece a read of its own (the next is sent once the client has read it), through a
 * ReadBufferSocket. The rows must come out exact, and the bytes after CopyDone must go back to
 * node-postgres exact.
 */

/** A small deterministic generator (mulberry32): the cuts differ between cases, not between runs. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** A COPY's response: rows of 0–300 bytes (a few of 100 kB), a notice among them, then the end. */
function response(seed: number) {
  const rnd = random(seed);
  const rows: Buffer[] = [];
  const parts = [protocolMessage('H', Buffer.from([1, 0, 3, 0, 1, 0, 1, 0, 1]))];
  for (let i = 0; i < 3000; i++) {
    const row = randomBytes(i % 997 === 500 ? 100_000 : rnd(301));
    rows.push(row);
    parts.push(protocolMessage('d', row));
    if (i === 1500) parts.push(protocolMessage('N', Buffer.from('SNOTICE\0Mhello\0\0', 'latin1')));
  }
  const after = Buffer.concat([
    protocolMessage('C', Buffer.from('COPY 3000\0')),
    protocolMessage('Z', Buffer.from('I')),
  ]);
  parts.push(protocolMessage('c', Buffer.alloc(0)), after);
  return { rows: Buffer.concat(rows), parts, after, rnd };
}

/**
 * The response cut into pieces: a third of the cuts 1–4 bytes into a message's header, the
 * others anywhere in the next 9 kB (or, now and then, 150 kB: more than a read takes).
 */
function cuts(parts: Buffer[], rnd: (n: number) => number): Buffer[] {
  const all = Buffer.concat(parts);
  const starts: number[] = [];
  for (let at = 0, i = 0; i < parts.length; at += parts[i]!.length, i++) starts.push(at);
  const pieces: Buffer[] = [];
  for (let at = 0, next = 0; at < all.length; ) {
    while (next < starts.length && starts[next]! <= at) next++;
    const header = next < starts.length && rnd(3) === 0;
    const to = header ? starts[next]! + 1 + rnd(4) : at + 1 + rnd(rnd(8) === 0 ? 150_000 : 9000);
    pieces.push(all.subarray(at, to));
    at = to;
  }
  return pieces;
}

let server: net.Server;
let port = 0;
/** what the server sends on the next connection */
let toSend: Buffer[] = [];
/** the client's socket: the server sends a piece once it has read the one before */
let client: net.Socket | null = null;

beforeAll(async () => {
  server = net.createServer((s) => {
    s.setNoDelay(true);
    s.once('data', async () => {
      let sent = 0;
      for (const piece of toSend) {
        s.write(piece);
        sent += piece.length;
        while (client!.bytesRead < sent) await new Promise((r) => setImmediate(r));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Run one COPY through CopyOut on a ReadBufferSocket; its rows and what node-postgres got after. */
async function copy(pieces: Buffer[], asSink: boolean) {
  toSend = pieces;
  const socket = new ReadBufferSocket();
  client = socket;
  await new Promise<void>((r) => socket.connect(port, '127.0.0.1', r));
  const after: Buffer[] = [];
  let gotAll: () => void = () => {};
  const ended = new Promise<void>((r) => {
    gotAll = r;
  });
  socket.on('data', (b: Buffer) => {
    after.push(Buffer.from(b));
    if (Buffer.concat(after).includes(Buffer.from('Z\0\0\0\x05I', 'latin1'))) gotAll();
  });
  const connection = { stream: socket, query: (text: string) => socket.write(text) } as unknown as Connection;
  const out = new CopyOut('COPY t TO STDOUT');
  out.submit(connection);
  const got: Buffer[] = [];
  if (asSink) {
    await out.into({
      put: (rows) => {
        got.push(Buffer.from(rows));
      },
    });
  } else for await (const b of out) got.push(b as Buffer);
  await ended;
  socket.destroy();
  return { rows: Buffer.concat(got), after: Buffer.concat(after), bytes: out.bytes };
}

describe('CopyOut on a socket reusing its read buffer', () => {
  it('rows exact, however the reads cut the messages', { timeout: 20_000 }, async () => {
    for (const [seed, asSink] of [
      [1, true],
      [2, false],
      [3, true],
    ] as const) {
      const r = response(seed);
      const got = await copy(cuts(r.parts, r.rnd), asSink);
      expect(got.rows.length).toBe(r.rows.length);
      expect(got.rows.equals(r.rows)).toBe(true);
      expect(got.bytes).toBe(r.rows.length);
      expect(got.after.equals(r.after)).toBe(true);
    }
  });
});
