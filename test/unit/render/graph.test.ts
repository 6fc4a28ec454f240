import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import type { TopologyGraph } from '../../../src/model/graph.js';
import { topologyGraph } from '../../../src/planner/graph.js';
import { renderGraphDot, renderGraphMermaid } from '../../../src/render/graph.js';
import { parseDot, parseMermaid } from '../../support/graphSyntax.js';
import {
  at,
  observe,
  observedPublication,
  observedSubscription,
  PG14,
  publication,
  runPlan,
  subscription,
  topology,
} from '../planner/fixtures.js';

/**
 * `steep graph` and `plan --graph` render: each case builds the graph of a topology (with the
 * catalogs, live states or a plan where given), renders Mermaid and DOT, reads both back with a
 * strict parser (and Graphviz's `dot` when installed), and checks what a reader of the picture
 * must see: which vertices and edges, their labels, what is dashed and what a plan changes.
 */

const hasDot = (() => {
  try {
    execFileSync('dot', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function rendered(g: TopologyGraph) {
  const mermaidText = renderGraphMermaid(g);
  const dotText = renderGraphDot(g);
  const mermaid = parseMermaid(mermaidText);
  const dot = parseDot(dotText);
  if (hasDot) execFileSync('dot', ['-Tsvg'], { input: dotText });
  // the two formats draw the same picture
  expect([...dot.nodes.keys()].sort()).toEqual([...mermaid.vertices.keys()].sort());
  expect(dot.edges.map((e) => `${e.from}>${e.to}`)).toEqual(mermaid.edges.map((e) => `${e.from}>${e.to}`));
  const label = (id: string) => mermaid.vertices.get(id)!.label;
  const edges = mermaid.edges.map((e, i) => ({
    from: label(e.from).split('\n')[0],
    to: label(e.to).split('\n')[0],
    op: e.op,
    label: e.label,
    dotStyle: dot.edges[i]!.attrs.style,
    colour: mermaid.linkStyles.get(i) ?? null,
  }));
  return { mermaid, dot, edges, label };
}

describe('steep graph', () => {
  test('a publication and its subscription: the publication joined to its node, an edge to the subscriber labelled with the subscription and init method', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders', 'public.items'] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const { mermaid, edges, label } = rendered(topologyGraph(t));
    expect(mermaid.direction).toBe('LR');
    expect([...mermaid.vertices.values()].map((v) => [v.shape, v.label])).toEqual([
      ['cylinder', 'east'],
      ['cylinder', 'west'],
      ['stadium', 'orders_pub\npublic.items\npublic.orders'],
    ]);
    expect(edges).toEqual([
      { from: 'east', to: 'orders_pub', op: '---', label: null, dotStyle: 'solid', colour: null },
      {
        from: 'orders_pub',
        to: 'west',
        op: '-->',
        label: 'west_orders\nsnapshot',
        dotStyle: 'solid',
        colour: null,
      },
    ]);
    expect(label('n0')).toBe('east');
  });

  test('two subscriptions between the same nodes in opposite directions are a link, drawn both ways', () => {
    const t = topology({
      publications: [publication('eu_pub', 'eu'), publication('us_pub', 'us')],
      subscriptions: [
        subscription('us_from_eu', 'us', 'eu', ['eu_pub'], {
          init: { method: 'merge', parallel: 4, existingData: 'fail' },
          options: { origin: 'none' },
        }),
        subscription('eu_from_us', 'eu', 'us', ['us_pub'], {
          init: { method: 'none', parallel: 4, existingData: 'fail' },
          options: { origin: 'none' },
        }),
      ],
    });
    const g = topologyGraph(t);
    expect(g.links).toEqual([
      { name: 'eu ⇄ us', nodes: ['eu', 'us'], subscriptions: ['eu_from_us', 'us_from_eu'] },
    ]);
    const { edges } = rendered(g);
    expect(edges.filter((e) => e.op === '-->').map((e) => [e.from, e.to, e.label])).toEqual([
      ['us_pub', 'eu', 'eu_from_us\nnone\nlink eu ⇄ us'],
      ['eu_pub', 'us', 'us_from_eu\nmerge\nlink eu ⇄ us'],
    ]);
  });

  test('live: versions, states, and unmanaged publications and subscriptions dashed', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const observed = observe(t, { version: PG14 });
    const legacy = publication('legacy_pub', 'east', { tables: ['public.legacy'] });
    at(observed, 'east').publications.legacy_pub = {
      ...observedPublication(t, legacy, PG14),
      managedBy: null,
    };
    const stray = subscription('stray_sub', 'west', 'east', ['gone_pub']);
    at(observed, 'west').subscriptions.stray_sub = {
      ...observedSubscription(t, stray, PG14),
      from: '',
      managedBy: null,
    };
    const g = topologyGraph(t, {
      observed,
      states: { 'west/west_orders': 'synchronized', 'west/stray_sub': 'catching_up' },
    });
    const { mermaid, edges, label } = rendered(g);
    expect(label('n0')).toBe('east\nPostgreSQL 14');
    expect(mermaid.vertices.get('p1')).toMatchObject({
      label: 'legacy_pub\npublic.legacy\nunmanaged',
      cls: 'unmanaged',
    });
    expect(edges).toEqual([
      { from: 'east', to: 'orders_pub', op: '---', label: null, dotStyle: 'solid', colour: null },
      { from: 'east', to: 'legacy_pub', op: '-.-', label: null, dotStyle: 'dashed', colour: null },
      {
        from: 'orders_pub',
        to: 'west',
        op: '-->',
        label: 'west_orders\nsnapshot · synchronized',
        dotStyle: 'solid',
        colour: null,
      },
      {
        from: 'unknown publisher',
        to: 'west',
        op: '-.->',
        label: 'stray_sub\nunmanaged · catching_up',
        dotStyle: 'dashed',
        colour: null,
      },
    ]);
  });

  test('with a plan: what it creates and drops is coloured, what it drops dashed', () => {
    const before = topology({
      publications: [publication('orders_pub', 'east'), publication('old_pub', 'east')],
      subscriptions: [subscription('old_sub', 'west', 'east', ['old_pub'])],
    });
    const observed = observe(before);
    const after = topology({
      nodes: ['east', 'west'],
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const plan = runPlan(after, observed);
    const g = topologyGraph(after, { observed, plan });
    expect(g.subscriptions.map((s) => [s.name, s.change, s.unmanaged])).toEqual([
      ['west_orders', 'create', false],
      ['old_sub', 'delete', false],
    ]);
    const { mermaid, edges } = rendered(g);
    expect(mermaid.vertices.get('p1')).toMatchObject({
      label: 'old_pub\npublic.orders\n(delete)',
      cls: 'delete',
    });
    const byLabel = Object.fromEntries(edges.filter((e) => e.label).map((e) => [e.label!.split('\n')[0], e]));
    expect(byLabel.west_orders).toMatchObject({ op: '-->', colour: 'stroke:#1a7f37,stroke-width:3px' });
    expect(byLabel.old_sub).toMatchObject({
      op: '-.->',
      dotStyle: 'dashed',
      colour: 'stroke:#cf222e,stroke-width:3px',
    });
  });

  test('names with quotes, angle brackets, ampersands and backslashes stay text in both formats', () => {
    const odd = 'a"b<c>&d\\e #quot;';
    const t = topology({
      publications: [publication(odd, 'east', { tables: ['"Odd Schema"."T""x"'] })],
      subscriptions: [subscription('west_odd', 'west', 'east', [odd])],
    });
    const { mermaid, dot } = rendered(topologyGraph(t));
    expect(mermaid.vertices.get('p0')!.label.split('\n')[0]).toBe(odd);
    expect(dot.nodes.get('p0')!.label!.split('\n')[0]).toBe(odd);
  });

  test('the parsers refuse what Mermaid and Graphviz would not draw', () => {
    expect(() => parseMermaid('flowchart LR\n  a["x"]\n  a --> b')).toThrow(/vertex b is not defined/);
    expect(() => parseMermaid('flowchart LR\n  a["x"y"]')).toThrow(/not a statement|raw quote/);
    expect(() => parseMermaid('flowchart LR\n  a["<b>"]')).toThrow(/raw < or >/);
    expect(() => parseMermaid('flowchart LR\n  a["x"]:::nope')).toThrow(/no classDef/);
    expect(() => parseDot('digraph { "a" -> "b"; }')).toThrow(/undeclared node/);
    expect(() => parseDot('digraph { "a" [label="x]; }')).toThrow(/unterminated/);
  });
});
