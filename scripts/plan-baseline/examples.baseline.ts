import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/config/load.js';
import type { ClusterState } from '../../src/model/cluster.js';
import { observe, observedNode, PG14, PG16, runPlan, unreachable } from '../../test/unit/planner/fixtures.js';

/**
 * The example files (examples/quickstart, the SPEC example the config tests read) planned
 * against nodes that are empty, converged, converged on older versions, and half down: the
 * plans go into the baseline through capture.ts like the unit tests' plans.
 */

const FILES = {
  quickstart: new URL('../../examples/quickstart/steep.yaml', import.meta.url),
  'spec-example': new URL('../../test/unit/config/fixtures/spec-example.yaml', import.meta.url),
};
const env = { EAST_PGPASSWORD: 'pw', WEST_URL: 'postgres://w@west/app', PGPASSWORD: 'pw' };

describe.each(Object.entries(FILES))('%s', (_name, url) => {
  const { topology } = parseTopology(readFileSync(url, 'utf8'), 'steep.yaml', env);
  const names = Object.keys(topology.nodes).sort();
  const empty = (version?: number): ClusterState => ({
    nodes: Object.fromEntries(names.map((n) => [n, observedNode(n, version)])),
  });

  it('against empty nodes', () => {
    expect(runPlan(topology, empty()).steps.length).toBeGreaterThan(0);
    runPlan(topology, empty(PG14));
  });
  it('against a converged cluster, on 18, 16 and 14', () => {
    for (const version of [undefined, PG16, PG14]) runPlan(topology, observe(topology, { version }));
  });
  it('with one node down', () => {
    const state = empty();
    state.nodes[names[0]!] = unreachable(names[0]!);
    runPlan(topology, state);
  });
  it('once the file declares nothing (everything it made is deleted)', () => {
    const state = observe(topology);
    runPlan({ ...topology, publications: {}, subscriptions: {} }, state);
  });
});
