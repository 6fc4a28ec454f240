import { describe, expect, it } from 'vitest';
import { INIT_STATES } from '../../../src/model/initState.js';
import { REPLICATED_STATE_TABLES, stateMigrations } from '../../../src/state/migrations.js';

describe('state migrations', () => {
  it("subscription_state's CHECK is the model's list of init states, and migration 1 reads as it always has", () => {
    const [first] = stateMigrations('steep');
    const create = first!.statements.find((s) => s.includes('.subscription_state ('))!;
    const states = /CHECK \(state IN \(([^)]*)\)\)/.exec(create)![1]!;
    expect(states.split(', ').map((s) => s.slice(1, -1))).toEqual([...INIT_STATES]);
    // nodes made by an earlier steep ran this very text: migration 1 must not change
    expect(states).toBe(
      "'uninitialized', 'preparing', 'copying', 'catching_up', 'synchronized', 'diverged', 'failed', 'reinitializing'",
    );
  });
});

describe('state tables under an allTables publication', () => {
  it('every table the migrations create has the replicated-row trigger, ENABLE REPLICA (migration 15 or the one that adds it)', () => {
    const migrations = stateMigrations('steep');
    const statements = migrations.flatMap((m) => m.statements);
    const created = new Set(
      statements.flatMap((s) => {
        const m = /^CREATE TABLE (?:IF NOT EXISTS )?"steep"\.(\w+) /.exec(s);
        return m ? [m[1]!] : [];
      }),
    );
    // the tables as of migration 15 are its list; each later one is made by a migration after 15
    const creator = (t: string) =>
      migrations.find((m) =>
        m.statements.some((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS "steep".${t} (`)),
      )!;
    const later = [...created].filter((t) => !(REPLICATED_STATE_TABLES as readonly string[]).includes(t));
    for (const t of later) expect(creator(t).version, t).toBeGreaterThan(15);
    expect(later).toEqual(['disables', 'verified_segments', 'clone_marks', 'subscriber_timelines']);
    const migration15 = migrations.find((m) => m.version === 15)!.statements;
    for (const t of created) {
      const by = (REPLICATED_STATE_TABLES as readonly string[]).includes(t)
        ? migration15
        : creator(t).statements;
      expect(by).toContain(
        `CREATE TRIGGER steep_replicated_row BEFORE INSERT ON "steep"."${t}" FOR EACH ROW EXECUTE FUNCTION "steep".steep_replicated_row()`,
      );
      expect(by).toContain(`ALTER TABLE "steep"."${t}" ENABLE REPLICA TRIGGER steep_replicated_row`);
    }
  });
});
