import { describe, expect, it } from 'vitest';
import { setOptionGrant } from '../../../src/model/membershipGrant.js';
import type { Topology } from '../../../src/model/topology.js';
import { grantScripts } from '../../../src/planner/preflight/grants.js';
import {
  at,
  observe,
  observedTable,
  PG15,
  PG18,
  publication,
  runPlan,
  subscription,
  topology,
} from './fixtures.js';

/**
 * A publication and a subscription another role owns (a cloud admin ran steep first): steep's
 * role takes them over by ALTER … OWNER TO, which asks the one who runs it to be able to SET ROLE
 * to steep's role from 16 (a member of it before).
 */
function file(): Topology {
  const t = topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
  return t;
}

function ownedByAdmin(t: Topology, version: number, ownerToRole: { canSetRole: boolean; member: boolean }) {
  const s = observe(t, { version });
  for (const n of ['east', 'west'])
    Object.assign(at(s, n).role, { superuser: false, canCreateInDatabase: true });
  Object.assign(at(s, 'east').publications.orders_pub!, { owner: 'cloudadmin', ownerToRole });
  Object.assign(at(s, 'west').subscriptions.west_orders!, { owner: 'cloudadmin', ownerToRole });
  // a change of each: the plan alters both
  t.publications.orders_pub!.publish = ['insert'];
  at(s, 'west').subscriptions.west_orders!.options.binary = true;
  return s;
}

describe('taking over what a cloud admin made', () => {
  it('the GRANT that lets a role SET ROLE to steep’s role takes nothing away: SET alone for a member, INHERIT FALSE, SET TRUE for a new one, a plain GRANT before 16', () => {
    expect(setOptionGrant('steep', 'cloudadmin', true, PG18)).toBe(
      'GRANT "steep" TO "cloudadmin" WITH SET TRUE;',
    );
    expect(setOptionGrant('steep', 'cloudadmin', false, PG18)).toBe(
      'GRANT "steep" TO "cloudadmin" WITH INHERIT FALSE, SET TRUE;',
    );
    expect(setOptionGrant('steep', 'cloudadmin', false, PG15)).toBe('GRANT "steep" TO "cloudadmin";');
  });

  it('16+: the plan names the membership the owner needs before its ALTER … OWNER TO, and steep grants carries it', () => {
    const t = file();
    const s = ownedByAdmin(t, PG18, { canSetRole: false, member: true });
    const errors = runPlan(t, s).errors.map((e) => e.message);
    const needs =
      'GRANT "steep" TO "cloudadmin" WITH SET TRUE; (as a role with ADMIN OPTION on steep, such as cloudadmin if it created it: ' +
      'ALTER … OWNER TO needs cloudadmin to be able to SET ROLE to steep), then as cloudadmin';
    expect(errors).toContain(
      'east: role steep does not own publication orders_pub (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; ' +
        `run ${needs} ALTER PUBLICATION "orders_pub" OWNER TO "steep" on east`,
    );
    expect(errors).toContain(
      'west: role steep does not own subscription west_orders (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; ' +
        `run ${needs} ALTER SUBSCRIPTION "west_orders" OWNER TO "steep" on west`,
    );
    const scripts = grantScripts(
      t,
      {
        east: { serverVersion: PG18, node: at(s, 'east') },
        west: { serverVersion: PG18, node: at(s, 'west') },
      },
      [],
    );
    for (const script of scripts) {
      expect(script.lines).toContain('GRANT "steep" TO "cloudadmin" WITH SET TRUE;');
      expect(script.lines.join('\n')).not.toMatch(/OWNER TO|nothing to grant/);
    }
  });

  it('an owner that may SET ROLE to steep’s role already: the ALTER alone, and nothing in steep grants', () => {
    const t = file();
    const s = ownedByAdmin(t, PG18, { canSetRole: true, member: true });
    expect(runPlan(t, s).errors.map((e) => e.message)).toContain(
      'east: role steep does not own publication orders_pub (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; run ALTER PUBLICATION "orders_pub" OWNER TO "steep" on east',
    );
    const [east] = grantScripts(
      t,
      {
        east: { serverVersion: PG18, node: at(s, 'east') },
        west: { serverVersion: PG18, node: at(s, 'west') },
      },
      [],
    );
    expect(east!.lines.join('\n')).not.toContain('TO "cloudadmin"');
  });

  it('before 16: a publication’s owner must be a member of steep’s role; a subscription’s must be a superuser, which no GRANT makes', () => {
    const t = file();
    const s = ownedByAdmin(t, PG15, { canSetRole: false, member: false });
    const errors = runPlan(t, s).errors.map((e) => e.message);
    expect(errors).toContain(
      'east: role steep does not own publication orders_pub (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; ' +
        'run GRANT "steep" TO "cloudadmin"; (as a role with CREATEROLE: ALTER … OWNER TO needs cloudadmin to be a member of steep), then as cloudadmin ALTER PUBLICATION "orders_pub" OWNER TO "steep" on east',
    );
    expect(errors.find((e) => e.startsWith('west: role steep does not own subscription'))).toContain(
      'before PostgreSQL 16 the owner of a subscription must be a superuser',
    );
    const [east, west] = grantScripts(
      t,
      {
        east: { serverVersion: PG15, node: at(s, 'east') },
        west: { serverVersion: PG15, node: at(s, 'west') },
      },
      [],
    );
    expect(east!.lines).toContain('GRANT "steep" TO "cloudadmin";');
    expect(west!.lines.join('\n')).not.toContain('TO "cloudadmin"');
  });

  it('16+: what steep made under this topology and the file no longer declares is taken over to be dropped, and steep grants names it; what the admin made by hand is named nowhere', () => {
    const t = topology({
      publications: [
        publication('orders_pub', 'east', { tables: ['public.orders'] }),
        publication('old_pub', 'east', { tables: ['public.orders'] }),
        publication('hand_pub', 'east', { tables: ['public.orders'] }),
      ],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub']),
        subscription('old_sub', 'west', 'east', ['old_pub']),
        subscription('hand_sub', 'west', 'east', ['hand_pub']),
      ],
    });
    const s = observe(t, { version: PG18 });
    const ownerToRole = { canSetRole: false, member: true };
    for (const n of ['east', 'west'])
      Object.assign(at(s, n).role, { superuser: false, canCreateInDatabase: true });
    for (const name of ['old_pub', 'hand_pub'])
      Object.assign(at(s, 'east').publications[name]!, { owner: 'cloudadmin', ownerToRole });
    for (const name of ['old_sub', 'hand_sub'])
      Object.assign(at(s, 'west').subscriptions[name]!, { owner: 'cloudadmin', ownerToRole });
    // hand_* carry no marker: made by hand; old_* are this topology's, no longer in the file
    Object.assign(at(s, 'east').publications.hand_pub!, { comment: null, managedBy: null });
    Object.assign(at(s, 'west').subscriptions.hand_sub!, { comment: null, managedBy: null });
    for (const name of ['old_pub', 'hand_pub']) delete t.publications[name];
    for (const name of ['old_sub', 'hand_sub']) delete t.subscriptions[name];
    const p = runPlan(t, s);
    const errors = p.errors.map((e) => e.message);
    expect(errors).toContain(
      'west: role steep does not own subscription old_sub (its owner is cloudadmin), and only its owner or a superuser may alter, adopt or drop it; ' +
        'run GRANT "steep" TO "cloudadmin" WITH SET TRUE; (as a role with ADMIN OPTION on steep, such as cloudadmin if it created it: ' +
        'ALTER … OWNER TO needs cloudadmin to be able to SET ROLE to steep), then as cloudadmin ALTER SUBSCRIPTION "old_sub" OWNER TO "steep" on west',
    );
    // hand_sub receives what west_orders does: refused, naming it, but neither re-owned nor dropped
    expect(errors.find((e) => e.includes('hand_sub'))).toContain('already receives public.orders from east');
    for (const e of errors.filter((x) => x.includes('hand_')))
      expect(e).not.toMatch(/OWNER TO|DROP SUBSCRIPTION|DROP PUBLICATION/);
    const scripts = grantScripts(
      t,
      {
        east: { serverVersion: PG18, node: at(s, 'east') },
        west: { serverVersion: PG18, node: at(s, 'west') },
      },
      [],
    );
    for (const script of scripts) {
      const text = script.lines.join('\n');
      expect(script.lines, script.node).toContain('GRANT "steep" TO "cloudadmin" WITH SET TRUE;');
      expect(text).toContain(script.node === 'east' ? 'publication old_pub' : 'subscription old_sub');
      expect(text).not.toContain('hand_');
    }
  });

  it('a subscription whose connection changes to a user without REPLICATION on the publisher is an error naming it, as at its create', () => {
    const t = file();
    const s = observe(t, { version: PG18 });
    // the admin's connection string: the runner's file connects as the runner
    at(s, 'west').subscriptions.west_orders!.conninfo =
      'host=east.example port=5432 dbname=app user=cloudadmin password=x';
    Object.assign(at(s, 'east').role, { superuser: false, canCreateInDatabase: true, replication: false });
    const p = runPlan(t, s);
    expect(p.steps.some((x) => x.statements.some((st) => /CONNECTION '/.test(st.sql)))).toBe(true);
    expect(p.errors.map((e) => e.message)).toContain(
      'east: subscribers connect as role steep, which lacks the REPLICATION attribute; run ALTER ROLE "steep" REPLICATION on east',
    );
  });

  it("16+, runAsOwner false: a subscription steep's role takes over or alters applies as each table's owner on its behalf, so a role that may not SET ROLE to one is refused, as at its create", () => {
    const t = file();
    const s = ownedByAdmin(t, PG18, { canSetRole: false, member: true });
    at(s, 'west').tables['public.orders'] = observedTable('public.orders', {
      owner: 'shopapp',
      canSetRole: false,
    });
    const message =
      "west: subscription west_orders applies changes as each table's owner (runAsOwner: false), and role steep may not SET ROLE to shopapp, which owns public.orders; " +
      'run GRANT "shopapp" TO "steep" WITH SET TRUE; on west, or set runAsOwner: true on the subscription';
    expect(runPlan(t, s).errors.map((e) => e.message)).toContain(message);
    // given over already, the alter alone: the same
    Object.assign(at(s, 'west').subscriptions.west_orders!, { owner: 'steep', ownerToRole: undefined });
    expect(runPlan(t, s).errors.map((e) => e.message)).toContain(message);
    at(s, 'west').tables['public.orders']!.canSetRole = true;
    expect(runPlan(t, s).errors.map((e) => e.message)).not.toContain(message);
  });
});
