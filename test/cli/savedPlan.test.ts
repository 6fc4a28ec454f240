import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlanFile } from '../../src/model/planFile.js';
import { stepLines } from '../support/acceptance.js';
import { runSteep, steepWith, writeConfig } from '../support/cli.js';
import { useCluster } from '../support/cluster.js';
import { createTables, digests, fillTables } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * `steep plan --out FILE` then `steep apply FILE` (issue 52): the saved plan is exactly what
 * runs. apply re-plans with the targets and --lsn the file recorded, and refuses, naming the
 * difference and changing nothing, when the nodes now need anything else than the saved steps.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });
const steep = steepWith({ env: () => passwordEnv(cluster().nodes) });

const TABLES = [
  { name: 'sp_a', rows: 500 },
  { name: 'sp_b', rows: 300 },
];

/** pa (sp_a) and pb (sp_b) on east; subscription sa on west receives pa. */
function config(): string {
  const [east, west] = cluster().nodes;
  return [
    'version: 1',
    'topology: saved-plan',
    nodesYaml([east!, west!]),
    'publications:',
    '  pa: { node: east, tables: [public.sp_a] }',
    '  pb: { node: east, tables: [public.sp_b] }',
    'subscriptions:',
    '  sa: { node: west, from: east, publications: [pa] }',
    '',
  ].join('\n');
}

async function publications(): Promise<string[]> {
  const rows = await cluster()
    .node('east')
    .query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname IN ('pa', 'pb') ORDER BY 1",
    );
  return rows.map((r) => r.pubname);
}

async function rowsEqual(): Promise<void> {
  const [east, west] = cluster().nodes;
  let last = '';
  await eventually(
    async () => {
      const [a, b] = await Promise.all([digests(east!, ['sp_a']), digests(west!, ['sp_a'])]);
      last = `east ${JSON.stringify(a)}, west ${JSON.stringify(b)}`;
      return JSON.stringify(a) === JSON.stringify(b);
    },
    HANG_MS,
    'west to hold sp_a as east does',
  ).catch((err) => {
    throw new Error(`${(err as Error).message}: ${last}`);
  });
}

async function expectEmptyPlan(): Promise<void> {
  const r = await steep(['plan', '--detailed-exitcode'], path);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toContain('No changes');
}

function saved(path: string): PlanFile {
  return JSON.parse(readFileSync(path, 'utf8')) as PlanFile;
}

let path: string;
/** a publication's step that publishes updates and deletes again is gated (planner/heldTables.ts) */
const GAP = ['--allow-hazard', 'data-gap'];

describe('apply of a saved plan runs exactly its steps', () => {
  beforeAll(async () => {
    const [east, west] = cluster().nodes;
    await createTables([east!, west!], TABLES);
    await fillTables(east!, TABLES);
    path = writeConfig(config());
  });

  it('a plan made with --target applies only its target: pb stays absent, whatever flags apply is given', async () => {
    const out = `${path}.target.json`;
    const p = await steep(['plan', '--target', 'subscription.sa', '--out', out], path);
    expect(p.code, p.stderr).toBe(0);
    expect(stepLines(saved(out))).toEqual([
      'create node.east',
      'create node.west',
      'create publication.pa',
      'create subscription.sa',
      'init subscription.sa',
    ]);
    // the plan file decides its targets: another one given now is refused, nothing changes
    const other = await steep(['apply', out, '--target', 'publication.pb'], path);
    expect(other.code, other.stdout).toBe(1);
    expect(other.stderr).toContain('--target cannot change a saved plan');
    expect(other.stderr).toContain('--target subscription.sa');
    const lsn = await steep(['apply', out, '--lsn', 'sa=0/1'], path);
    expect(lsn.code, lsn.stdout).toBe(1);
    expect(lsn.stderr).toContain('--lsn cannot change a saved plan');
    expect(await publications()).toEqual([]);

    const a = await steep(['apply', out], path);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    expect(await publications()).toEqual(['pa']);
    await rowsEqual();
    expect((await digests(cluster().node('west'), ['sp_a'])).sp_a!.count).toBe(500);
    const again = await steep(['plan', '--target', 'subscription.sa', '--detailed-exitcode'], path);
    expect(again.code, again.stdout).toBe(0);
  });

  it('refuses a plan made before another change landed: the step it lacks is named, nothing changes; a new plan applies', async () => {
    const east = cluster().node('east');
    const all = await steep(['apply', '--auto-approve'], path);
    expect(all.code, `${all.stdout}\n${all.stderr}`).toBe(0);
    expect(await publications()).toEqual(['pa', 'pb']);
    await east.query("ALTER PUBLICATION pa SET (publish = 'insert')");
    const out = `${path}.before.json`;
    // publishing updates and deletes again: what was done that way meanwhile never arrives (a gap)
    expect((await steep(['plan', ...GAP, '--out', out], path)).code).toBe(0);
    expect(stepLines(saved(out))).toEqual(['update publication.pa']);

    // meanwhile someone drops pb: planning again now also needs to create it
    await east.query('DROP PUBLICATION pb');
    const check = await steep(['show', out, '--check'], path);
    expect(check.code, `${check.stdout}\n${check.stderr}`).toBe(2);
    expect(check.stdout).toContain('Stale: create publication.pb on east: needed now, not in the plan.');
    const stale = await steep(['apply', out], path);
    expect(stale.code, stale.stdout).toBe(1);
    expect(stale.stderr).toContain(
      'plan is stale: create publication.pb on east: needed now, not in the plan',
    );
    expect(stale.stderr).toContain(
      `nothing was changed — make a new plan with \`steep plan --allow-hazard data-gap --out ${out}\``,
    );
    expect(await publications()).toEqual(['pa']);
    const [pa] = await east.query<{ pubupdate: boolean }>(
      "SELECT pubupdate FROM pg_publication WHERE pubname = 'pa'",
    );
    expect(pa!.pubupdate).toBe(false);

    // and someone makes a publication marked as this topology's, which the file does not declare:
    // planning again would drop it; apply --allow-destroy of the saved plan refuses that too
    await east.query('CREATE PUBLICATION pc FOR TABLE public.sp_b');
    await east.query("COMMENT ON PUBLICATION pc IS 'managed by steep: topology=saved-plan'");
    const destroy = await steep(['apply', out, '--allow-destroy'], path);
    expect(destroy.code, destroy.stdout).toBe(1);
    expect(destroy.stderr).toContain('delete publication.pc on east: needed now, not in the plan');
    expect(
      await east.query("SELECT pubname FROM pg_publication WHERE pubname = 'pc'"),
      'pc is still there',
    ).toHaveLength(1);
    await east.query('DROP PUBLICATION pc');

    const fresh = `${path}.after.json`;
    expect((await steep(['plan', ...GAP, '--out', fresh], path)).code).toBe(0);
    expect(stepLines(saved(fresh)).sort()).toEqual(['create publication.pb', 'update publication.pa']);
    const current = await steep(['show', fresh, '--check'], path);
    expect(current.code, `${current.stdout}\n${current.stderr}`).toBe(0);
    expect(current.stdout).toContain(
      `Current: planning again now gives exactly these steps; \`steep apply ${fresh}\` runs them.`,
    );
    const ok = await steep(['apply', fresh], path);
    expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0);
    await east.query(
      'INSERT INTO public.sp_a (id, v) SELECT g, md5(g::text) FROM generate_series(501, 600) g',
    );
    await rowsEqual();
    await expectEmptyPlan();
  });

  it('refuses a saved plan whose step was changed after it was made (a statement added to the file)', async () => {
    const east = cluster().node('east');
    await east.query("ALTER PUBLICATION pa SET (publish = 'insert')");
    const out = `${path}.changed.json`;
    expect((await steep(['plan', ...GAP, '--out', out], path)).code).toBe(0);
    const doc = saved(out);
    expect(stepLines(doc)).toEqual(['update publication.pa']);
    doc.steps[0]!.sql.push('DROP PUBLICATION pb');
    doc.steps[0]!.transactional.push(true);
    writeFileSync(out, JSON.stringify(doc, null, 2));
    const r = await steep(['apply', out], path);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toContain('plan is stale: update publication.pa: its SQL would now differ');
    expect(await publications()).toEqual(['pa', 'pb']);
    // the hazards a reviewer saw are part of the step too
    const hazards = saved(`${out}`);
    hazards.steps[0]!.sql.pop();
    hazards.steps[0]!.transactional.pop();
    hazards.steps[0]!.hazards = ['locks-table'];
    writeFileSync(out, JSON.stringify(hazards, null, 2));
    const h = await steep(['apply', out], path);
    expect(h.code, h.stdout).toBe(1);
    expect(h.stderr).toContain(
      'update publication.pa: its hazards would now be data-gap (saved: locks-table)',
    );
    expect(await steep(['apply', '--auto-approve', ...GAP], path).then((a) => a.code)).toBe(0);
    await expectEmptyPlan();
  });

  it('refuses a plan file of format 1 (no recorded inputs) with the command that makes it again', async () => {
    await cluster().node('east').query("ALTER PUBLICATION pa SET (publish = 'insert')");
    const out = `${path}.v1.json`;
    expect((await steep(['plan', ...GAP, '--out', out], path)).code).toBe(0);
    const { inputs: _, ...old } = { ...saved(out), formatVersion: 1 };
    writeFileSync(out, JSON.stringify(old, null, 2));
    const sentence = `${out} is a plan of format 1 (steep ${old.steepVersion}); this steep reads format 2, which records the --target and --lsn the plan was made with, so that apply runs exactly it: make the plan again with \`steep plan --out ${out}\``;
    for (const args of [
      ['apply', out],
      ['show', out],
    ]) {
      const r = await steep(args, path);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stderr).toContain(sentence);
    }
    const [pa] = await cluster()
      .node('east')
      .query<{ pubupdate: boolean }>("SELECT pubupdate FROM pg_publication WHERE pubname = 'pa'");
    expect(pa!.pubupdate).toBe(false);
    expect((await steep(['apply', '--auto-approve', ...GAP], path)).code).toBe(0);
    await expectEmptyPlan();
  });

  it('show renders a saved plan as plan does, in every format, with its age and inputs', async () => {
    await cluster().node('east').query("ALTER PUBLICATION pa SET (publish = 'insert')");
    const out = `${path}.show.json`;
    const md = await steep(
      ['plan', ...GAP, '--target', 'publication.pa', '--format', 'markdown', '--out', out],
      path,
    );
    expect(md.code, md.stderr).toBe(0);
    const text = await steep(['plan', ...GAP, '--target', 'publication.pa'], path);

    const shownText = await steep(['show', out], path);
    expect(shownText.code, shownText.stderr).toBe(0);
    const [made, notChecked, blank, ...rest] = shownText.stdout.split('\n');
    expect(made).toMatch(
      new RegExp(
        `^Saved plan ${escapeRegExp(out)}: made \\S+Z \\(\\d+ s ago\\) by steep \\d+\\.\\d+\\.\\d+ from ${escapeRegExp(path)} \\(sha256:[0-9a-f]{12}…\\), with --target publication\\.pa and --allow-hazard data-gap\\.$`,
      ),
    );
    expect(notChecked).toBe(
      `Not compared with the nodes: \`steep show ${out} --check\` plans again and says whether it is still current.`,
    );
    expect(blank).toBe('');
    expect(rest.join('\n')).toBe(text.stdout);

    const shownMd = await steep(['show', out, '--format', 'markdown'], path);
    expect(shownMd.code).toBe(0);
    expect(shownMd.stdout.endsWith(md.stdout)).toBe(true);
    expect(shownMd.stdout).toMatch(/^> Saved plan /);

    const json = await steep(['show', out, '--json', '--check'], path);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc.check).toEqual({ current: true, differences: [] });
    expect(doc.plan).toEqual(saved(out));
    expect(doc.file).toBe(out);
    expect(doc.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(await steep(['apply', out], path).then((a) => a.code)).toBe(0);
    await expectEmptyPlan();
  });

  it('a hazard is a gate: a plan that did not allow truncates-data is refused, nothing changes; typed at the prompt, or allowed in the saved plan, it runs', async () => {
    const [east, west] = cluster().nodes;
    // sb copies sp_b into west, where 7 rows are in the way: existingData: truncate empties it first
    await fillTables(west!, [{ name: 'sp_b', rows: 7 }]);
    const hazard = writeConfig(
      `${config()}  sb: { node: west, from: east, publications: [pb], init: { method: snapshot, existingData: truncate } }\n`,
    );
    const westRows = async () => (await digests(west!, ['sp_b'])).sp_b!.count;
    const subscriptions = async () =>
      (
        await west!.query<{ subname: string }>(
          "SELECT subname FROM pg_subscription WHERE subname IN ('sa', 'sb') ORDER BY 1",
        )
      ).map((r) => r.subname);

    const held = `${path}.held.json`;
    const planned = await steep(['plan', '--out', held], hazard);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain(
      'hazards: copies-data, truncates-data; apply needs --allow-hazard truncates-data',
    );
    expect(planned.stdout).toContain('Hazards to allow by name: --allow-hazard truncates-data');
    expect(saved(held).inputs.allowHazards).toEqual([]);
    const refused = await steep(['apply', held], hazard);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stderr).toContain(
      'error: step s1 create subscription.sb (truncates-data) runs only with its hazards allowed by name; nothing was changed — ' +
        `${held} did not allow them: make the plan again allowing them, \`steep plan --allow-hazard truncates-data --out ${held}\``,
    );
    // the plan file decides what is allowed
    const later = await steep(['apply', '--allow-hazard', 'truncates-data', held], hazard);
    expect(later.code).toBe(1);
    expect(later.stderr).toContain('--allow-hazard cannot change a saved plan');
    // without a saved plan: --auto-approve alone is not enough, and neither is a `yes`
    const auto = await steep(['apply', '--auto-approve'], hazard);
    expect(auto.code).toBe(1);
    expect(auto.stderr).toContain(
      'rerun with --allow-hazard truncates-data, or type the names at the prompt',
    );
    const env = passwordEnv(cluster().nodes);
    const yes = await runSteep(['apply', '-c', hazard], { env, input: 'yes\n' });
    expect(yes.code).toBe(1);
    expect(yes.stderr).toContain(
      "with truncates-data (subscription.sb)? Only 'truncates-data' is accepted: yes",
    );
    expect(yes.stderr).toContain('apply cancelled; nothing was changed');
    expect(await westRows()).toBe(7);
    expect(await subscriptions()).toEqual(['sa']);

    // typed at the prompt (here piped, as a terminal's line), the names allow it for this apply
    const typed = await runSteep(['apply', '-c', hazard], { env, input: 'truncates-data\n' });
    expect(typed.code, `${typed.stdout}\n${typed.stderr}`).toBe(0);
    expect(await westRows()).toBe(300);
    expect(await subscriptions()).toEqual(['sa', 'sb']);
    // sb goes (its rows stay on west), and comes back from a saved plan that allows the truncate
    const dropped = await steep(['apply', '--auto-approve', '--allow-destroy'], path);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(await subscriptions()).toEqual(['sa']);

    const allowed = `${path}.allowed.json`;
    const p = await steep(['plan', '--allow-hazard', 'truncates-data', '--out', allowed], hazard);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('hazards: copies-data, truncates-data; allowed: truncates-data');
    expect(saved(allowed).inputs.allowHazards).toEqual(['truncates-data']);
    const a = await steep(['apply', allowed], hazard);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    await eventually(
      async () =>
        JSON.stringify(await digests(west!, ['sp_b'])) === JSON.stringify(await digests(east!, ['sp_b'])),
      HANG_MS,
      'west to hold sp_b as east does',
    );
    expect(await westRows()).toBe(300);
    const again = await steep(['plan', '--detailed-exitcode'], hazard);
    expect(again.code, again.stdout).toBe(0);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
