import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/config/load.js';
import { connectingSubscriptions } from '../../../src/workflows/subscriberProbe.js';
import { at, observe, runPlan } from '../planner/fixtures.js';

const FILE = `version: 1
topology: probe
nodes:
  eu: { url: "postgres://steep@eu.internal:5432/app" }
  us: { url: "postgres://steep@us.internal:5432/app" }
  ap: { url: "postgres://steep@ap.internal:5432/app" }
publications:
  orders_pub: { node: eu, tables: [public.orders] }
subscriptions:
  ap_orders: { node: ap, from: eu, publications: [orders_pub] }
links:
  eu_us:
    nodes: [eu, us]
    tables: [public.accounts]
    init: { method: merge, strategy: "prefer:eu" }
`;

describe('the subscriptions apply probes before its first step', () => {
  it("a subscription's create and a link's merge (both edges); none once applied", () => {
    const t = parseTopology(FILE, 'steep.yaml', {}).topology;
    const s = observe(t);
    for (const n of ['eu', 'us', 'ap']) {
      at(s, n).subscriptions = {};
      at(s, n).slots = {};
    }
    const names = (st = s) =>
      connectingSubscriptions(t, runPlan(t, st)).map((d) => `${d.node}<-${d.from} ${d.name}`);
    expect(names().sort()).toEqual(['ap<-eu ap_orders', 'eu<-us eu_us_eu', 'us<-eu eu_us_us']);
    expect(names(observe(t))).toEqual([]);
  });

  it('a connection that changes (a rotated password) is probed; another change is not', () => {
    const t = parseTopology(FILE, 'steep.yaml', {}).topology;
    const s = observe(t);
    at(s, 'ap').subscriptions.ap_orders!.conninfo = 'host=eu.old port=5432 dbname=app user=steep';
    expect(connectingSubscriptions(t, runPlan(t, s)).map((d) => d.name)).toEqual(['ap_orders']);
    const other = observe(t);
    at(other, 'ap').subscriptions.ap_orders!.options.binary = true;
    const p = runPlan(t, other);
    expect(p.steps.map((x) => x.kind)).toContain('subscription-alter');
    expect(connectingSubscriptions(t, p)).toEqual([]);
  });
});
