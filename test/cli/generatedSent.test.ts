import { describe, expect, it } from 'vitest';
import { steepWith, writeConfig } from '../support/cli.js';
import { type TestCluster, useCluster } from '../support/cluster.js';
import { ITEMS_SUB, itemsPair } from '../support/itemsPair.js';
import { digestsByName, idsMissing, waitCaughtUp } from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A publication switched to `generatedColumns: stored` (PostgreSQL 18) over a subscriber whose
 * column is generated too, as steep's own schema sync made it: PostgreSQL accepts the ALTER
 * PUBLICATION, then its apply worker refuses every change of the table ("has incompatible
 * generated column", 011_generated.pl). Before: plan clean, apply 0, then `failing`. Now schema
 * sync makes the subscriber's column plain first (DROP EXPRESSION), the publication after it: no
 * error counted, the values sent land. Rows written before the publication's change and applied
 * after the column became plain come without it (NULL), and where the subscriber computed it
 * otherwise its old rows keep their own values: gated data-gap, compared by apply; its ways out
 * (the writes stopped until apply has run; the printed copy) converge.
 */
const COLUMNS = 'id bigserial PRIMARY KEY, v text, g text GENERATED ALWAYS AS (upper(v)) STORED';
const FILL = 'INSERT INTO public.items (v) SELECT md5(g::text) FROM generate_series(1, 300) g';

/** The items pair, east publishing `generatedColumns: state.generated`, and what the tests read of west. */
function generatedPair(cluster: () => TestCluster) {
  const state = { generated: 'none' };
  const pair = itemsPair(cluster, {
    topology: 'generated-sent',
    app: { user: 'gs_app', password: 'gs-app-secret-1' },
    publication: () => [`    generatedColumns: ${state.generated}`],
  });
  const errors = async () =>
    (
      await cluster()
        .node('west')
        .query<{ n: string }>(
          `SELECT (apply_error_count + sync_error_count)::text AS n FROM pg_stat_subscription_stats WHERE subname = '${ITEMS_SUB}'`,
        )
    )[0]?.n;
  const generatedOnWest = async () =>
    (
      await cluster()
        .node('west')
        .query<{ g: string }>(
          "SELECT attgenerated::text AS g FROM pg_attribute WHERE attrelid = 'public.items'::regclass AND attname = 'g'",
        )
    )[0]?.g;

  /** The pair set up, west's g then redefined by hand as `definition` (east does not send it), a writer going. */
  const westRedefined = async (definition: string) => {
    await pair.setUp(COLUMNS, FILL);
    const west = cluster().node('west');
    await west.query('ALTER TABLE public.items DROP COLUMN g');
    await west.query(`ALTER TABLE public.items ADD COLUMN g ${definition}`);
    const writer = pair.startWriter();
    await writer.more('writes before the switch');
    return writer;
  };

  return { pair, steep: pair.steep, state, errors, generatedOnWest, westRedefined };
}

describe('generated columns a publication starts to send (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
  const { pair, steep, state, errors, generatedOnWest } = generatedPair(cluster);
  it('the same expression: made plain before the publication, gated; with the writes stopped, equal', async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    await pair.setUp(COLUMNS, FILL);
    const writer = pair.startWriter();
    await writer.more('writes before the switch');
    state.generated = 'stored';
    pair.writeItemsConfig();
    const planned = await pair.expectGated(
      /it is made plain first \(DROP EXPRESSION\), then the publication sends them/,
    );
    expect(planned).toContain('ALTER COLUMN "g" DROP EXPRESSION');
    expect(planned.indexOf('DROP EXPRESSION')).toBeLessThan(
      planned.indexOf("publish_generated_columns = 'stored'"),
    );
    // the way out it prints: the writes stopped until apply has run
    await writer.stop();
    const applied = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await generatedOnWest()).toBe('');
    const after = pair.startWriter();
    await after.more('writes after the switch');
    expect(await pair.untilState('synchronized')).toContain('synchronized');
    await after.stop();
    await waitCaughtUp(east, ITEMS_SUB);
    expect(await errors()).toBe('0');
    const acked = [...writer.acked(), ...after.acked()];
    expect(await idsMissing(west, 'public.items', acked)).toBe(0);
    expect(await digestsByName(west, ['items'])).toEqual(await digestsByName(east, ['items']));
    const verify = await steep(['verify', ITEMS_SUB]);
    expect(verify.code, verify.stdout).toBe(0);
  }, 300_000);
});

describe('generated columns a publication starts to send, computed otherwise on the subscriber (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
  const { pair, state, generatedOnWest, westRedefined } = generatedPair(cluster);
  it('another expression on the subscriber: gated data-gap, compared, the printed copy converges', async () => {
    // computed otherwise on west (lower, not upper), which east does not send
    const writer = await westRedefined('text GENERATED ALWAYS AS (lower(v)) STORED');
    state.generated = 'stored';
    pair.writeItemsConfig();
    await pair.expectGated(/keep what its own expression \(lower\(v\)\) computed, not east's \(upper\(v\)\)/);
    await pair.appliedDiverged(['--allow-hazard', 'data-gap']);
    expect(await generatedOnWest()).toBe('');
    await pair.reinitConverges(writer, 'generated column sent');
  }, 300_000);
});

// steep's own copy (init.parallel) left every generated column out, and the init's comparison
// compared none: the init said synchronized over 1,000 NULLs; now it copies one the publications
// send into the subscriber's plain column
describe('a sent generated column under steep own copy (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });

  it('is copied, and the init compares it', async () => {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    await east.query(`CREATE TABLE public.items (id bigint PRIMARY KEY, v text, g text GENERATED ALWAYS AS (upper(v)) STORED);
      INSERT INTO public.items SELECT g, md5(g::text) FROM generate_series(1, 1000) g`);
    await west.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v text, g text)');
    const path = writeConfig(
      [
        'version: 1',
        'topology: generated-own-copy',
        nodesYaml(cluster().nodes),
        'publications:',
        '  items_pub: { node: east, tables: [public.items], generatedColumns: stored }',
        'subscriptions:',
        `  ${ITEMS_SUB}: { node: west, from: east, publications: [items_pub], init: { method: snapshot, parallel: 2 } }`,
        '',
      ].join('\n'),
    );
    const steep = steepWith({
      config: () => path,
      env: () => passwordEnv(cluster().nodes),
      timeoutMs: 120_000,
    });
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(applied.stdout).toContain("steep's own copy with 2 sessions");
    const [copied] = await west.query<{ g: string }>('SELECT count(g)::text AS g FROM public.items');
    expect(copied?.g).toBe('1000');
    await east.query('INSERT INTO public.items SELECT g, md5(g::text) FROM generate_series(1001, 1100) g');
    await waitCaughtUp(east, ITEMS_SUB);
    expect(await digestsByName(west, ['items'])).toEqual(await digestsByName(east, ['items']));
    // and verify compares it: a value changed by hand on west is found
    await west.query("UPDATE public.items SET g = 'x' WHERE id = 7");
    const verify = await steep(['verify', ITEMS_SUB]);
    expect(verify.code, verify.stdout).not.toBe(0);
    expect(verify.stdout).toMatch(/public\.items\s+diverged/);
  }, 200_000);
});

// a subscriber column made plain by hand for a generated one east does not send (PostgreSQL fills
// it with its default): schema sync refuses it, naming two ways out; the one that sends the values
// sends only those of rows written from then on, and the switch was applied ungated,
// synchronized, every old row NULL there: now it is gated data-gap and compared, and followed
// literally under writes with the printed copy it converges
describe('a plain subscriber column for a generated one, sent from now on (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
  const { pair, steep, state, westRedefined } = generatedPair(cluster);

  it("the plan's way out, followed under writes: gated data-gap, compared, and the printed reinit converges", async () => {
    const writer = await westRedefined('text');
    const refused = await steep(['plan']);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(
      "or have east's publication send its values into it (generatedColumns: stored)",
    );
    state.generated = 'stored';
    pair.writeItemsConfig();
    await pair.expectGated(/values of its stored generated columns it did not send before, never copied/);
    await pair.appliedDiverged(['--allow-hazard', 'data-gap']);
    await pair.reinitConverges(writer, 'generated column sent from now on');
  }, 300_000);
});

// a publication switched to stored by hand over a subscriber that has no such column: the worker
// stops ("is missing replicated column"), and status names the column, as for any other one
describe('a stored generated column sent to a subscriber that lacks it (18)', () => {
  const cluster = useCluster({ nodes: ['east', 'west'], version: 18 });
  const { pair, steep } = generatedPair(cluster);

  it('status names the column the worker misses', async () => {
    await pair.setUp(COLUMNS, FILL);
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    await west.query('ALTER TABLE public.items DROP COLUMN g');
    await east.query('ALTER PUBLICATION items_pub SET (publish_generated_columns = stored)');
    await east.query("INSERT INTO public.items (v) VALUES ('after the switch')");
    await eventually(
      async () =>
        (await steep(['status'])).stdout.includes(
          'public.items on west lacks column g, which east publishes',
        ),
      HANG_MS,
      'status naming the missing column',
    );
    const check = await steep(['status', '--check']);
    expect(check.code, check.stdout).toBe(2);
    expect(check.stdout).toMatch(/items_sub\s+west ← east\s+failing/);
  });
});
