import type { LoadMode } from '../model/loadOrder.js';
import type { ChunkWriter } from './engine.js';

/**
 * The order the copy's workers take its chunks in (model/loadOrder.ts). Loading as replication
 * does, any chunk at any time, in the order given. In foreign-key order, a table's chunks start
 * once every table it references is loaded (all its chunks committed; a table with nothing left
 * to copy, as after a resumed copy, counts as loaded), so workers run in parallel only among
 * tables whose referenced tables are there; a deferred group's chunks are one unit, loaded in
 * one transaction by one worker.
 */

export interface LoadUnit<T> {
  items: T[];
  /** one transaction with SET CONSTRAINTS ALL DEFERRED */
  deferred: boolean;
  /** the tables that must be loaded before it starts */
  after: string[];
}

export function loadUnits<T>(
  items: readonly T[],
  tableOf: (item: T) => string,
  mode: LoadMode | null,
): Array<LoadUnit<T>> {
  if (!mode || mode.replica) return items.map((item) => ({ items: [item], deferred: false, after: [] }));
  const units: Array<LoadUnit<T>> = [];
  for (const g of mode.groups) {
    const of = (t: string) => items.filter((item) => tableOf(item) === t);
    if (g.deferred) {
      const all = g.tables.flatMap(of);
      if (all.length > 0) units.push({ items: all, deferred: true, after: g.after });
    } else
      for (const item of g.tables.flatMap(of)) units.push({ items: [item], deferred: false, after: g.after });
  }
  // chunks of tables the order does not name (none, as the copy reads both): at the end, after every other
  const named = new Set(mode.groups.flatMap((g) => g.tables));
  const rest = items.filter((item) => !named.has(tableOf(item)));
  const everything = [...named];
  for (const item of rest) units.push({ items: [item], deferred: false, after: everything });
  // the given order (biggest chunks first) among the units that may start
  const rank = new Map(items.map((item, i) => [item, i]));
  return units.sort((a, b) => rank.get(a.items[0]!)! - rank.get(b.items[0]!)!);
}

/** Units for workers: `take` waits until one may start; `done` marks its tables' chunks loaded. */
export class LoadQueue<T> {
  private readonly left = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private running = 0;
  private stopped = false;

  constructor(
    private readonly units: Array<LoadUnit<T>>,
    private readonly tableOf: (item: T) => string,
  ) {
    for (const u of units)
      for (const item of u.items) this.left.set(tableOf(item), (this.left.get(tableOf(item)) ?? 0) + 1);
  }

  private ready(u: LoadUnit<T>): boolean {
    return u.after.every((t) => (this.left.get(t) ?? 0) === 0);
  }

  /** The next unit that may start, null when none is left (or the run stopped). */
  async take(): Promise<LoadUnit<T> | null> {
    for (;;) {
      if (this.stopped || this.units.length === 0) return null;
      const i = this.units.findIndex((u) => this.ready(u));
      if (i >= 0) {
        this.running++;
        return this.units.splice(i, 1)[0]!;
      }
      // nothing may start before a running unit ends; with none running, nothing ever would
      if (this.running === 0)
        throw new Error(`no table may load: ${this.units[0]!.after.join(', ')} never finish`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  done(u: LoadUnit<T>): void {
    this.running--;
    for (const item of u.items) this.left.set(this.tableOf(item), this.left.get(this.tableOf(item))! - 1);
    this.wake();
  }

  /** A unit failed (or the run stops): no unit starts any more. */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** `one` over a unit's items into `writer`: a deferred group in one transaction of the writer's. */
export async function loadUnit<T, R>(
  unit: LoadUnit<T>,
  writer: ChunkWriter,
  one: (item: T) => Promise<R>,
): Promise<R[]> {
  if (!unit.deferred) return [await one(unit.items[0]!)];
  if (!writer.deferred) throw new Error('this sink cannot load tables in one transaction');
  return writer.deferred(async () => {
    const results: R[] = [];
    for (const item of unit.items) results.push(await one(item));
    return results;
  });
}
