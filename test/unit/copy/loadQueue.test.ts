import { describe, expect, it } from 'vitest';
import { LoadQueue, loadUnits } from '../../../src/copy/loadQueue.js';
import type { LoadMode } from '../../../src/model/loadOrder.js';

interface Item {
  table: string;
  chunk: number;
}

const tableOf = (i: Item) => i.table;

/** Run `workers` workers over the queue; each unit takes a tick. The log of starts and ends, in order. */
async function run(items: Item[], mode: LoadMode | null, workers: number): Promise<string[]> {
  const log: string[] = [];
  const queue = new LoadQueue(loadUnits(items, tableOf, mode), tableOf);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let u = await queue.take(); u; u = await queue.take()) {
        const name = u.items.map((i) => `${i.table}#${i.chunk}`).join('+');
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, 2));
        log.push(`end ${name}`);
        queue.done(u);
      }
    }),
  );
  return log;
}

describe('the copy follows the load order', () => {
  const items: Item[] = [
    { table: 'public.child', chunk: 0 },
    { table: 'public.parent', chunk: 0 },
    { table: 'public.parent', chunk: 1 },
    { table: 'public.other', chunk: 0 },
  ];

  it('as replication loads: every chunk at once, in the order given', async () => {
    const log = await run(items, { replica: true }, 4);
    expect(log.slice(0, 4)).toEqual([
      'start public.child#0',
      'start public.parent#0',
      'start public.parent#1',
      'start public.other#0',
    ]);
  });

  it('in foreign-key order: a child starts only after every chunk of its parent ended; unrelated tables in parallel', async () => {
    const mode: LoadMode = {
      replica: false,
      whole: [],
      groups: [
        { tables: ['public.other'], after: [], deferred: false },
        { tables: ['public.parent'], after: [], deferred: false },
        { tables: ['public.child'], after: ['public.parent'], deferred: false },
      ],
    };
    const log = await run(items, mode, 4);
    const at = (s: string) => log.indexOf(s);
    expect(at('start public.child#0')).toBeGreaterThan(at('end public.parent#0'));
    expect(at('start public.child#0')).toBeGreaterThan(at('end public.parent#1'));
    expect(
      log.slice(0, 3).every((s) => s.startsWith('start public.parent') || s === 'start public.other#0'),
    ).toBe(true);
  });

  it('a deferred group is one unit; nothing that may never start hangs the queue', async () => {
    const mode: LoadMode = {
      replica: false,
      whole: [],
      groups: [{ tables: ['public.parent', 'public.child'], after: [], deferred: true }],
    };
    const log = await run(items, mode, 2);
    expect(log).toContain('start public.parent#0+public.parent#1+public.child#0');
    expect(log).toContain('start public.other#0');
  });
});
