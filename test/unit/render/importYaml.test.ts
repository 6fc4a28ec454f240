import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ImportedTopology } from '../../../src/model/imported.js';
import { renderImportYaml } from '../../../src/render/importYaml.js';

const FILE = `# our topology
nodes:
  east: { connection: "\${env:EAST_URL}" }
  west: { connection: "\${env:WEST_URL}" }
publications:
  orders_pub: { node: east, tables: [public.orders], protect: true }
  gone_pub: { node: east, tables: [public.gone] }
subscriptions:
  orders_sub:
    node: west
    from: east
    publications: [orders_pub]
    schemaSync: strict
    protect: true
    init: { method: snapshot, newTables: copy, existingData: truncate }
  moved_sub: { node: east, from: west, publications: [orders_pub], init: { method: manual } }
`;

const IMPORTED: ImportedTopology = {
  publications: [{ name: 'orders_pub', node: 'east', tables: [{ name: 'public.orders' }] }],
  subscriptions: [
    {
      name: 'orders_sub',
      node: 'west',
      from: 'east',
      publications: ['orders_pub'],
      init: { method: 'none' },
    },
    { name: 'moved_sub', node: 'west', from: 'east', publications: ['orders_pub'], init: { method: 'none' } },
  ],
  notes: [],
};

describe('steep import over an existing steep.yaml', () => {
  const text = renderImportYaml(FILE, IMPORTED);
  const doc = parse(text);

  it('keeps what only the file says (protect, schemaSync, init) for objects declared on the same node', () => {
    expect(doc.publications.orders_pub).toEqual({ node: 'east', tables: ['public.orders'], protect: true });
    expect(doc.subscriptions.orders_sub).toEqual({
      node: 'west',
      from: 'east',
      publications: ['orders_pub'],
      init: { method: 'snapshot', newTables: 'copy', existingData: 'truncate' },
      schemaSync: 'strict',
      protect: true,
    });
  });

  it('takes the catalog for an object that now lives on another node, and names what the file declared that is gone', () => {
    expect(doc.subscriptions.moved_sub).toEqual({
      node: 'west',
      from: 'east',
      publications: ['orders_pub'],
      init: { method: 'none' },
    });
    expect(doc.publications.gone_pub).toBeUndefined();
    expect(text).toContain(
      'publication gone_pub was declared in the file on east but is not there: left out',
    );
    expect(text).toContain(
      'subscription moved_sub was declared in the file on east but is on west: written as that node holds it',
    );
  });

  it('leaves nodes, comments and env references as written', () => {
    expect(text).toContain('# our topology');
    expect(text).toContain(`"\${env:EAST_URL}"`);
  });
});
