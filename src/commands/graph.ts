import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags } from '../cli/flags.js';
import { renderGraphDot, renderGraphMermaid } from '../render/graph.js';
import { graphOf } from '../workflows/graph.js';

export default class Graph extends SteepCommand {
  static override summary =
    'Draw the topology: nodes, publications and subscriptions, as Mermaid, DOT or JSON.';
  static override description =
    `Each subscription is an edge from the publications it receives to its subscriber, labelled with its name and init method; two subscriptions replicating between the same two nodes in opposite directions are a link, drawn both ways.
Without --live nothing connects (password variables may be unset). With --live steep reads the nodes: server versions, each subscription's state, and the publications and subscriptions steep.yaml does not declare (unmanaged, dashed).`;
  static override examples = [
    '<%= config.bin %> graph > topology.mmd',
    '<%= config.bin %> graph --format dot | dot -Tsvg > topology.svg',
    '<%= config.bin %> graph --live --format json',
  ];
  static override flags = {
    ...globalFlags,
    format: Flags.string({
      summary: 'Output format.',
      options: ['mermaid', 'dot', 'json'],
      default: 'mermaid',
    }),
    live: Flags.boolean({ summary: 'Read the nodes: versions, subscription states, unmanaged objects.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Graph);
    const { graph } = this.warned(await graphOf(flags.config, { live: flags.live }));
    if (flags.format === 'json') this.outJson(graph, 2);
    else this.out(flags.format === 'dot' ? renderGraphDot(graph) : renderGraphMermaid(graph));
  }
}
