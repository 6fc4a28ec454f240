/**
 * CopyIn, which puts each piece written into a CopyData message of its own, on real
 * PostgreSQL: pieces cut anywhere (inside a row, inside a multi-byte character) arrive as the
 * rows they make, with the rows and bytes counted; a row PostgreSQL refuses fails the COPY with
 * PostgreSQL's own error, and nothing of it stays.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CopyIn } from '../../src/db/copyIn.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();

/** `text` in pieces of 1–700 bytes, cut without regard to rows or characters. */
function pieces(text: string): Buffer[] {
  const all = Buffer.from(text);
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < all.length; i++) {
    const n = 1 + ((i * 7919) % 700);
    out.push(all.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe(`COPY FROM of data in pieces (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['sub'], version });

  async function table(name: string) {
    const node = cluster().node('sub');
    await node.query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (id int PRIMARY KEY, v text)`);
    const client = await node.client();
    onTestFinished(() => client.end().catch(() => {}));
    return { node, client };
  }

  it('loads pieces cut anywhere as the rows they make, counting rows and bytes', async () => {
    const { node, client } = await table('copy_in_rows');
    const text = Array.from({ length: 2000 }, (_, i) => `${i}\tzoë ${'x'.repeat(i % 90)} ✓\n`).join('');
    const into = client.query(new CopyIn('COPY copy_in_rows FROM STDIN'));
    await pipeline(Readable.from(pieces(text)), into);
    expect(into.rowCount).toBe(2000);
    expect(into.bytes).toBe(Buffer.byteLength(text));
    const [got] = await node.query<{ n: number; sum: string }>(
      "SELECT count(*)::int AS n, md5(string_agg(id || E'\\t' || v || E'\\n', '' ORDER BY id)) AS sum FROM copy_in_rows",
    );
    const [want] = await node.query<{ sum: string }>('SELECT md5($1) AS sum', [text]);
    expect(got).toEqual({ n: 2000, sum: want!.sum });
  });

  it('fails with PostgreSQL’s error on a refused row, and nothing of the COPY stays', async () => {
    const { node, client } = await table('copy_in_refused');
    const rows = Array.from({ length: 500 }, (_, i) => `${i === 300 ? 'x' : i}\tv\n`).join('');
    await client.query('BEGIN');
    const into = client.query(new CopyIn('COPY copy_in_refused FROM STDIN'));
    await expect(pipeline(Readable.from(pieces(rows)), into)).rejects.toThrow(
      /invalid input syntax for type integer: "x"/,
    );
    const [{ n }] = (await node.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_in_refused')) as [
      { n: number },
    ];
    expect(n).toBe(0);
  });
});
