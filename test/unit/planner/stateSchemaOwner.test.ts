import { describe, expect, it } from 'vitest';
import { ownerOnly, pendingMigrations } from '../../../src/planner/stateSchema.js';
import { stateMigrations } from '../../../src/state/migrations.js';
import { at, codes, observe, runPlan, topology } from './fixtures.js';

/**
 * steep's state schema made by an admin, run now by a role that owns none of it
 * (planner/stateSchema.ts): a migration that alters one of its tables needs their owner.
 */
describe('a migration of a state schema another role owns', () => {
  const t = topology({ nodes: ['east'] });
  const migrations = stateMigrations('steep');
  const latest = Math.max(...migrations.map((m) => m.version));
  const adminMade = (version: number) => {
    const state = observe(t);
    at(state, 'east').stateSchema = {
      exists: true,
      version,
      owned: false,
      owner: 'cloudadmin',
      writable: true,
      canCreateIn: true,
      notOwned: [
        { name: 'schema_fingerprints', owner: 'cloudadmin' },
        { name: 'migrations', owner: 'cloudadmin' },
        { name: 'steep_replicated_row()', owner: 'cloudadmin' },
      ],
    };
    return state;
  };

  it('finds the table an ALTER needs the owner of, and the function a CREATE OR REPLACE does', () => {
    // migration 17 alters schema_fingerprints
    const state = adminMade(16);
    expect(
      ownerOnly(
        t,
        at(state, 'east').stateSchema,
        pendingMigrations(at(state, 'east').stateSchema, migrations),
      ),
    ).toEqual({
      object: 'schema_fingerprints',
      owner: 'cloudadmin',
    });
    // migration 15 replaces the trigger function first
    expect(
      ownerOnly(
        t,
        at(state, 'east').stateSchema,
        pendingMigrations({ ...at(state, 'east').stateSchema, version: 14 }, migrations),
      ),
    ).toEqual({
      object: 'steep_replicated_row()',
      owner: 'cloudadmin',
    });
    // migration 18 creates a table (and its trigger): the role owns what it creates
    expect(
      ownerOnly(
        t,
        at(state, 'east').stateSchema,
        pendingMigrations({ ...at(state, 'east').stateSchema, version: 17 }, migrations),
      ),
    ).toBeNull();
    // nothing pending, or every object the role's: nothing to refuse
    expect(ownerOnly(t, at(state, 'east').stateSchema, [])).toBeNull();
    expect(ownerOnly(t, { ...at(state, 'east').stateSchema, notOwned: [] }, migrations)).toBeNull();
  });

  it('is a plan error naming the owner and the script that migrates as it', () => {
    const p = runPlan(t, adminMade(16), { stateMigrations: migrations });
    expect(codes(p.errors)).toContain('preflight.privilege');
    expect(p.errors.map((e) => e.message).join('\n')).toContain(
      `east: steep's state schema steep is at version 16 and this steep needs migrations ${[17, 18, 19, 20, 21, 22, 23, 24, 25, 26].join(', ')}, which alter steep.schema_fingerprints: only its owner cloudadmin (or a member of it) may`,
    );
    expect(latest).toBe(26);
    expect(codes(runPlan(t, adminMade(latest), { stateMigrations: migrations }).errors)).not.toContain(
      'preflight.privilege',
    );
  });
});
