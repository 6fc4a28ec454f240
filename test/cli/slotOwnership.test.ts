import { describe, expect, it } from 'vitest';
import { withDatabaseTag } from '../../src/model/databaseTag.js';
import { steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A logical slot nothing uses is offered for dropping only when steep can show it made it: it
 * decodes with pgoutput and carries a name steep gives (the database tag) or recorded. Another
 * tool's slot (test_decoding; a pgoutput slot of a name steep never gave) is listed as not
 * steep's, with no drop statement, by plan, drift and status. On the first of testVersions().
 */
const cluster = useCluster({ nodes: ['east'] });

const OTHER_PLUGIN = 'other_tool';
const OTHER_NAME = 'cdc_connector';

describe('slots steep did not make', () => {
  it('are listed as not steep’s, never with a drop statement; steep’s own leftover is', async () => {
    const east = cluster().node('east');
    const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });
    await east.query('CREATE TABLE public.so_t (id int PRIMARY KEY)');
    const own = withDatabaseTag('steep_reverse_so_gone', 'app');
    await east.query(`SELECT pg_create_logical_replication_slot('${OTHER_PLUGIN}', 'test_decoding')`);
    await east.query(`SELECT pg_create_logical_replication_slot('${OTHER_NAME}', 'pgoutput')`);
    await east.query(`SELECT pg_create_logical_replication_slot('${own}', 'pgoutput')`);
    const file = (settings: string[] = []) =>
      writeConfig(
        [
          'version: 1',
          'topology: slot-ownership',
          ...settings,
          nodesYaml(cluster().nodes),
          'publications:',
          '  so_pub:',
          '    node: east',
          '    tables: [public.so_t]',
          '',
        ].join('\n'),
      );
    const path = file();
    try {
      const plan = await steep(['plan'], path);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(`drop it on east: SELECT pg_catalog.pg_drop_replication_slot('${own}')`);
      for (const slot of [OTHER_PLUGIN, OTHER_NAME]) {
        expect(plan.stdout).toContain(`east/${slot}`);
        expect(plan.stdout).not.toContain(`pg_drop_replication_slot('${slot}')`);
      }
      expect(plan.stdout).toMatch(
        /Replication slots steep did not make[^\n]*\n\s+east\/cdc_connector: pgoutput/,
      );
      expect(plan.stdout).toContain('east/other_tool: test_decoding');

      const drift = await steep(['drift', '--json'], path);
      expect(drift.code, drift.stderr).toBe(2);
      const orphans = (JSON.parse(drift.stdout) as { orphanSlots: Array<Record<string, unknown>> })
        .orphanSlots;
      expect(orphans).toEqual([
        expect.objectContaining({ slot: OTHER_NAME, plugin: 'pgoutput', madeBySteep: false }),
        expect.objectContaining({ slot: OTHER_PLUGIN, plugin: 'test_decoding', madeBySteep: false }),
        expect.objectContaining({
          slot: own,
          plugin: 'pgoutput',
          madeBySteep: true,
          dropSql: `SELECT pg_catalog.pg_drop_replication_slot('${own}')`,
        }),
      ]);
      for (const o of orphans.filter((x) => !x.madeBySteep)) expect(o).not.toHaveProperty('dropSql');
      const text = await steep(['drift'], path);
      expect(text.stdout).not.toContain(`pg_drop_replication_slot('${OTHER_PLUGIN}')`);

      const status = JSON.parse((await steep(['status', '--json'], path)).stdout) as {
        slots: Array<{ name: string; kind: string }>;
      };
      expect(Object.fromEntries(status.slots.map((s) => [s.name, s.kind]))).toEqual({
        [OTHER_NAME]: 'other',
        [OTHER_PLUGIN]: 'other',
        [own]: 'orphan',
      });
      const statusText = await steep(['status'], path);
      expect(statusText.stdout).toMatch(
        /Replication slots steep did not make[^\n]*\n\s+east\/cdc_connector: /,
      );

      // dropOrphanSlots drops steep's own leftover it names, never a slot of another plugin it names
      const destroy = file(['settings:', '  dropOrphanSlots: ["steep_*", "other_*"]']);
      const applied = await steep(['apply', '--auto-approve', '--allow-destroy'], destroy);
      expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
      const left = await east.query<{ slot_name: string }>(
        'SELECT slot_name FROM pg_replication_slots ORDER BY 1',
      );
      expect(left.map((r) => r.slot_name)).toEqual([OTHER_NAME, OTHER_PLUGIN]);
    } finally {
      await east.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('${OTHER_PLUGIN}', '${OTHER_NAME}', '${own}')`,
      );
    }
  });
});
