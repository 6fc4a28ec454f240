import type { GraphChange, GraphSubscription, TopologyGraph } from '../model/graph.js';
import { majorVersion } from '../model/versions.js';

/**
 * `steep graph` as Mermaid (for Markdown: GitHub and GitLab draw it), Graphviz DOT and JSON.
 * Vertices: each node (a cylinder, with its server version when read) and each publication
 * (a rounded box listing what it publishes, joined to its node). Edges: one per subscription
 * and publication it receives, from the publication to the subscriber, labelled with the
 * subscription, its init method and (live) state. Unmanaged objects are dashed; what a plan
 * changes is coloured (create green, update amber, replace purple, delete red and dashed, adopt blue).
 */

const COLOUR: Record<GraphChange, string> = {
  create: '#1a7f37',
  update: '#9a6700',
  replace: '#8250df',
  delete: '#cf222e',
  adopt: '#0969da',
};

interface Vertex {
  id: string;
  kind: 'node' | 'publication' | 'unknown';
  lines: string[];
  dashed: boolean;
  change: GraphChange | null;
  unreachable?: boolean;
}

interface Edge {
  from: string;
  to: string;
  /** null: the line joining a publication to its node */
  lines: string[] | null;
  dashed: boolean;
  change: GraphChange | null;
}

function subscriptionLines(s: GraphSubscription): string[] {
  const facts = [
    s.unmanaged ? 'unmanaged' : (s.init ?? ''),
    s.state ?? '',
    s.enabled === false ? 'disabled' : '',
  ]
    .filter((x) => x !== '')
    .join(' · ');
  return [s.name, ...(facts ? [facts] : []), ...(s.link ? [`link ${s.link}`] : []), ...changeLine(s.change)];
}

const changeLine = (c: GraphChange | null): string[] => (c ? [`(${c})`] : []);

/** The graph as vertices and edges, with stable ids: what every text format draws. */
function layout(g: TopologyGraph): { vertices: Vertex[]; edges: Edge[] } {
  const vertices: Vertex[] = [];
  const edges: Edge[] = [];
  const nodeId = new Map<string, string>();
  g.nodes.forEach((n, i) => {
    const id = `n${i}`;
    nodeId.set(n.name, id);
    const facts =
      n.serverVersion !== null
        ? [`PostgreSQL ${majorVersion(n.serverVersion)}`]
        : n.reachable
          ? []
          : ['unreachable'];
    vertices.push({
      id,
      kind: 'node',
      lines: [n.name, ...facts],
      dashed: false,
      change: null,
      unreachable: !n.reachable,
    });
  });
  const nodeVertex = (name: string): string => {
    const known = nodeId.get(name);
    if (known) return known;
    const id = `u${nodeId.size}`;
    nodeId.set(name, id);
    vertices.push({ id, kind: 'unknown', lines: [name || 'unknown publisher'], dashed: true, change: null });
    return id;
  };
  const pubId = new Map<string, string>();
  g.publications.forEach((p, i) => {
    const id = `p${i}`;
    pubId.set(`${p.node}/${p.name}`, id);
    vertices.push({
      id,
      kind: 'publication',
      lines: [p.name, ...p.contents, ...(p.unmanaged ? ['unmanaged'] : []), ...changeLine(p.change)],
      dashed: p.unmanaged || p.change === 'delete',
      change: p.change,
    });
    edges.push({ from: nodeVertex(p.node), to: id, lines: null, dashed: p.unmanaged, change: p.change });
  });
  for (const s of g.subscriptions) {
    const to = nodeVertex(s.node);
    const sources = s.publications
      .map((name) => pubId.get(`${s.from}/${name}`))
      .filter((x) => x !== undefined);
    // a publication the catalog does not show (an unmanaged subscription's): from the node itself
    for (const from of sources.length > 0 ? sources : [nodeVertex(s.from)]) {
      edges.push({
        from,
        to,
        lines: subscriptionLines(s),
        dashed: s.unmanaged || s.change === 'delete',
        change: s.change,
      });
    }
  }
  return { vertices, edges };
}

// ---------------------------------------------------------------------------------------------
// Mermaid

/** Text inside a quoted Mermaid label: `#`, quotes, `&` and angle brackets as entities, so nothing is markup. */
function mermaidText(s: string): string {
  // `#` first: Mermaid reads `#name;` as an entity, so a literal one must be one too
  return s
    .replace(/#/g, '#35;')
    .replace(/&/g, '#amp;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;');
}

const mermaidLabel = (lines: string[]): string => `"${lines.map(mermaidText).join('<br/>')}"`;

export function renderGraphMermaid(g: TopologyGraph): string {
  const { vertices, edges } = layout(g);
  const out = ['flowchart LR'];
  out.push('  classDef unmanaged stroke-dasharray: 5 5');
  out.push('  classDef unreachable fill:#ffebe9,stroke:#cf222e');
  for (const [c, colour] of Object.entries(COLOUR))
    out.push(
      `  classDef ${c} stroke:${colour},stroke-width:3px${c === 'delete' ? ',stroke-dasharray: 5 5' : ''}`,
    );
  for (const v of vertices) {
    const label = mermaidLabel(v.lines);
    const shape = v.kind === 'node' ? `[(${label})]` : `([${label}])`;
    const cls = v.change ?? (v.dashed ? 'unmanaged' : v.unreachable ? 'unreachable' : null);
    out.push(`  ${v.id}${shape}${cls ? `:::${cls}` : ''}`);
  }
  edges.forEach((e, i) => {
    const arrow = e.lines === null ? (e.dashed ? '-.-' : '---') : e.dashed ? '-.->' : '-->';
    out.push(`  ${e.from} ${arrow}${e.lines ? `|${mermaidLabel(e.lines)}|` : ''} ${e.to}`);
    if (e.change) out.push(`  linkStyle ${i} stroke:${COLOUR[e.change]},stroke-width:3px`);
  });
  return out.join('\n');
}

/** For Markdown: a fenced block GitHub and GitLab draw. */
export function mermaidBlock(g: TopologyGraph): string {
  return ['```mermaid', renderGraphMermaid(g), '```'].join('\n');
}

// ---------------------------------------------------------------------------------------------
// DOT

const dotString = (s: string): string =>
  `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

function dotAttrs(attrs: Record<string, string>): string {
  return `[${Object.entries(attrs)
    .map(([k, v]) => `${k}=${dotString(v)}`)
    .join(', ')}]`;
}

export function renderGraphDot(g: TopologyGraph): string {
  const { vertices, edges } = layout(g);
  const out = [
    `digraph ${dotString(`steep ${g.topology}`)} {`,
    '  rankdir="LR";',
    '  node [fontname="Helvetica"];',
  ];
  for (const v of vertices) {
    const attrs: Record<string, string> = {
      label: v.lines.join('\n'),
      shape: v.kind === 'node' ? 'cylinder' : 'box',
      style:
        [v.kind === 'node' ? '' : 'rounded', v.dashed ? 'dashed' : ''].filter(Boolean).join(',') || 'solid',
    };
    if (v.change) attrs.color = COLOUR[v.change];
    else if (v.unreachable) attrs.color = COLOUR.delete;
    out.push(`  ${dotString(v.id)} ${dotAttrs(attrs)};`);
  }
  for (const e of edges) {
    const attrs: Record<string, string> = { style: e.dashed ? 'dashed' : 'solid' };
    if (e.lines) attrs.label = e.lines.join('\n');
    else attrs.arrowhead = 'none';
    if (e.change) attrs.color = COLOUR[e.change];
    out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} ${dotAttrs(attrs)};`);
  }
  out.push('}');
  return out.join('\n');
}
