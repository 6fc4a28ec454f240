import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toPlanFile } from '../../../src/model/planFile.js';
import type { PublishOperation, Streaming, Topology } from '../../../src/model/topology.js';
import { observe, publication, runPlan, subscription, topology } from './fixtures.js';

/**
 * Properties of the pure planner over random topologies (fast-check):
 * - convergence: against the state a finished apply leaves, the plan is empty;
 * - totality: any desired state against any observed state plans without throwing;
 * - determinism: the same inputs give the same plan;
 * - the JSON plan always validates against schemas/plan.schema.json.
 */
const TABLES = ['public.orders', 'public.customers', 'sales.Order Items', 'public.a"b', 'x;y.z', 'Ünï.cødé'];
const OPS: PublishOperation[] = ['insert', 'update', 'delete', 'truncate'];

const validate = (() => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv.compile(
    JSON.parse(readFileSync(new URL('../../../schemas/plan.schema.json', import.meta.url), 'utf8')),
  );
})();

const arbTopology: fc.Arbitrary<Topology> = fc
  .record({
    nodeCount: fc.integer({ min: 2, max: 5 }),
    pubs: fc.array(
      fc.record({
        node: fc.nat(4),
        tables: fc.subarray(TABLES, { minLength: 1 }),
        publish: fc.subarray(OPS, { minLength: 1 }),
        viaPartitionRoot: fc.boolean(),
        allTables: fc.boolean(),
      }),
      { maxLength: 4 },
    ),
    subs: fc.array(
      fc.record({
        node: fc.nat(4),
        pub: fc.nat(3),
        enabled: fc.boolean(),
        binary: fc.option(fc.boolean(), { nil: undefined }),
        streaming: fc.option(fc.constantFrom<Streaming>('off', 'on', 'parallel'), { nil: undefined }),
        disableOnError: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { maxLength: 4 },
    ),
  })
  .map(({ nodeCount, pubs, subs }) => {
    const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
    const publications = pubs.map((p, i) =>
      publication(`pub_${i}`, nodes[p.node % nodeCount]!, {
        tables: p.allTables ? [] : p.tables,
        allTables: p.allTables,
        publish: OPS.filter((o) => p.publish.includes(o)),
        viaPartitionRoot: p.viaPartitionRoot,
      }),
    );
    // one subscription per subscriber and publisher: two would apply the same tables twice (a plan error)
    const pairs = new Set<string>();
    const subscriptions = subs.flatMap((s, i) => {
      const pub = publications[s.pub % Math.max(1, publications.length)];
      const node = nodes[s.node % nodeCount]!;
      if (!pub || pub.node === node || pairs.has(`${node}/${pub.node}`)) return [];
      pairs.add(`${node}/${pub.node}`);
      const options = Object.fromEntries(
        Object.entries({
          binary: s.binary,
          streaming: s.streaming,
          disableOnError: s.disableOnError,
          origin: 'none',
        }).filter(([, v]) => v !== undefined),
      );
      return [subscription(`sub_${i}`, node, pub.node, [pub.name], { enabled: s.enabled, options })];
    });
    return topology({ nodes, publications, subscriptions });
  });

describe('planner properties', () => {
  it('converges: planning against what an apply leaves behind gives no step and no error', () => {
    fc.assert(
      fc.property(arbTopology, (t) => {
        const p = runPlan(t, observe(t));
        expect(p.errors).toEqual([]);
        expect(p.steps).toEqual([]);
        expect(p.drift).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('is total and deterministic for any desired state against any observed state, and its JSON validates', () => {
    fc.assert(
      fc.property(arbTopology, arbTopology, (desired, other) => {
        const observed = observe(other);
        const a = runPlan(desired, observed);
        const b = runPlan(desired, structuredClone(observed));
        expect(b).toEqual(a);
        const json = toPlanFile(a);
        expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
        // every step id is referenced only after it is defined
        const seen = new Set<string>();
        for (const step of a.steps) {
          for (const d of step.dependsOn) expect(seen.has(d)).toBe(true);
          seen.add(step.id);
        }
      }),
      { numRuns: 300 },
    );
  });
});
