import { describe, expect, it } from 'vitest';
import {
  deferIndexesLock,
  plannedLock,
  plannedStartOver,
  startOverStatements,
  withoutCondition,
} from '../../../src/planner/init/ownCopyStatements.js';
import { subscription } from './fixtures.js';

/** The statements steep's own copy runs besides COPY: each one line of condition, then exactly what runs. */
describe("steep's own copy: planned statements with their condition", () => {
  it('keeps a name with a line break inside its comment: the next line is the statement alone', () => {
    const hostile = { schema: 'public', name: 'x\nDROP TABLE t; --' };
    const sql = deferIndexesLock(hostile).sql;
    const comment = sql.slice(0, sql.indexOf('\n'));
    expect(comment).toMatch(/^-- when its copy starts, if public\.x DROP TABLE t; -- is empty .*:$/);
    expect(sql.slice(comment.length + 1)).toBe(
      'LOCK TABLE "public"."x\nDROP TABLE t; --" IN ACCESS EXCLUSIVE MODE',
    );
    expect(withoutCondition(sql)).toBe(sql.slice(comment.length + 1));
    expect(withoutCondition('TRUNCATE TABLE "public"."t"')).toBe('TRUNCATE TABLE "public"."t"');
  });

  it('finds in a plan the start over and the lock of a table, and nothing else', () => {
    const d = subscription('west_s', 'west', 'east', ['p']);
    const t = { schema: 'public', name: 'big' };
    const planned = [...startOverStatements(d, [t], true), deferIndexesLock(t)];
    expect(plannedStartOver(planned).map((s) => s.node ?? null)).toEqual([null, 'east']);
    expect(plannedLock(planned, t)).toBe(planned[2]);
    expect(plannedLock(planned, { schema: 'public', name: 'other' })).toBeUndefined();
    expect(plannedStartOver([deferIndexesLock(t)])).toEqual([]);
  });
});
