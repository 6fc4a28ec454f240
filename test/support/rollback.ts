import { expect } from 'vitest';
import type { Steep } from './cli.js';
import type { TestNode } from './cluster.js';
import { eventually, HANG_MS } from './topologyFile.js';

/**
 * A switchover report's rollback run exactly as printed: each steep command (exit 0), each
 * statement on the node it names (one to "repeat until true" repeated until it returns true),
 * and `pointBack` where it says to point the application back.
 */
export async function followRollback(
  report: {
    rollback: Array<{ node: string | null; sql: string | null; command?: string | null; why: string }>;
  },
  nodes: Record<string, TestNode>,
  steep: Steep,
  config: string,
  pointBack: () => void = () => {},
): Promise<void> {
  for (const r of report.rollback) {
    if (r.command) {
      const ran = await steep(r.command.replace(/^steep /, '').split(' '), config);
      expect(ran.code, `${r.command}\n${ran.stdout}\n${ran.stderr}`).toBe(0);
    } else if (r.sql && r.node) {
      const node = nodes[r.node]!;
      const sql = r.sql;
      if (/repeat until true/.test(r.why))
        await eventually(
          async () => Object.values((await node.query(sql))[0] ?? {})[0] === true,
          HANG_MS,
          sql,
        );
      else await node.query(sql);
    } else if (/point the application back/.test(r.why)) pointBack();
  }
}
