import { expect } from 'vitest';
import { startIdWriter } from './appWriter.js';
import { steepWith, untilHealthy, writeConfig } from './cli.js';
import type { TestCluster } from './cluster.js';
import { digestsByName, idsMissing, waitCaughtUp } from './replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from './topologyFile.js';

/** The app role's id-logging writer on east: the ids whose COMMIT returned, and a wait for more of them. */
export interface ItemsWriter {
  stop(): Promise<void>;
  acked(): number[];
  /** until 20 more ids were acknowledged (`what`: the wait's name) */
  more(what: string): Promise<void>;
}

/** The subscription of an items pair. */
export const ITEMS_SUB = 'items_sub';

/**
 * Two nodes, east publishing `public.items` to west (`schemaSync: auto`), and an application role
 * that writes on east: what the tests of a column schema sync changes under a writer share.
 */
export function itemsPair(
  cluster: () => TestCluster,
  opts: {
    topology: string;
    app: { user: string; password: string };
    /** the lines of items_pub's `tables` entry for public.items (default the bare name), read each time steep.yaml is written */
    items?: () => string[];
    /** more lines of items_pub (`    publish: [insert]`), read the same way */
    publication?: () => string[];
    /** more publications (their lines under `publications:`), and the subscription's list (default `[items_pub]`) */
    publications?: () => string[];
    reads?: () => string;
  },
) {
  let path = '';
  const steep = steepWith({
    config: () => path,
    env: () => passwordEnv(cluster().nodes),
    timeoutMs: 180_000,
  });

  function config(): string {
    return writeConfig(
      [
        'version: 1',
        `topology: ${opts.topology}`,
        nodesYaml(cluster().nodes),
        'publications:',
        '  items_pub:',
        '    node: east',
        '    tables:',
        ...(opts.items?.() ?? ['      - public.items']),
        ...(opts.publication?.() ?? []),
        ...(opts.publications?.() ?? []),
        'subscriptions:',
        `  ${ITEMS_SUB}:`,
        '    node: west',
        '    from: east',
        `    publications: ${opts.reads?.() ?? '[items_pub]'}`,
        '    schemaSync: auto',
        '',
      ].join('\n'),
    );
  }

  /** The app role's id-logging writer, inserting into east's public.items until stopped. */
  function startWriter(): ItemsWriter {
    const writer = startIdWriter({ east: cluster().node('east') }, opts.app, 'public.items', () => 'east');
    const acked = () => writer.acknowledged().get('east') ?? [];
    return {
      stop: () => writer.stop(),
      acked,
      more: async (what) => {
        const at = acked().length;
        await eventually(async () => acked().length > at + 20, HANG_MS, what);
      },
    };
  }

  /** steep.yaml written again, with `items` as it is now */
  function writeItemsConfig(): void {
    path = config();
  }

  /** `public.items (columns)` on both nodes, which the app role may insert into; `fill` on east; applied until healthy. */
  async function setUp(columns: string, fill: string): Promise<void> {
    for (const n of cluster().nodes) {
      await n.query(`CREATE ROLE ${opts.app.user} LOGIN PASSWORD '${opts.app.password}'`);
      await n.query(`CREATE TABLE public.items (${columns})`);
      await n.query(`GRANT SELECT, INSERT ON public.items TO ${opts.app.user}`);
      await n.query(`GRANT USAGE ON SEQUENCE public.items_id_seq TO ${opts.app.user}`);
    }
    await cluster().node('east').query(fill);
    path = config();
    const applied = await steep(['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    await untilHealthy(steep);
  }

  async function state(): Promise<{ state: string; text: string }> {
    const r = await steep(['status', '--json']);
    const subs = (JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> })
      .subscriptions;
    return { state: subs.find((s) => s.name === ITEMS_SUB)!.state, text: r.stdout };
  }

  /**
   * Status until the subscription is `want` (`failing` first where the worker stopped on a column
   * west lacked, or a value its type refused, until the sync; until the errors stop rising); its JSON.
   */
  async function untilState(want: string): Promise<string> {
    let last = await state();
    await eventually(
      async () => {
        last = await state();
        return last.state === want;
      },
      HANG_MS,
      `status ${want}`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; it says ${last.state}:\n${last.text}`);
    });
    return last.text;
  }

  /**
   * The plan gates public.items' step `data-gap` (saying `said` and naming the copy), and an apply
   * without the hazard allowed (with `args`) is refused naming the flag; the plan's text.
   */
  async function expectGated(said: RegExp, args: string[] = []): Promise<string> {
    const plan = await steep(['plan']);
    const planned = plan.stdout + plan.stderr;
    expect(planned).toContain('hazard data-gap');
    expect(planned).toMatch(said);
    expect(planned).toContain(`steep reinit ${ITEMS_SUB} --tables public.items`);
    const refused = await steep(['apply', '--auto-approve', ...args]);
    expect(refused.code, refused.stdout + refused.stderr).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('--allow-hazard data-gap');
    return planned;
  }

  /**
   * An apply, waited for, that compares the table and finds rows that differ (`counts`: what it
   * says of them, by default only old rows' values): it fails naming them and the copy.
   */
  async function appliedDiverged(
    args: string[],
    counts = 'missing 0, extra 0, different [1-9]\\d*',
  ): Promise<void> {
    const compared = await steep(['apply', '--auto-approve', ...args]);
    expect(compared.code, compared.stdout).not.toBe(0);
    expect(compared.stdout + compared.stderr).toMatch(
      new RegExp(`public\\.items \\(${counts}\\)[\\s\\S]*steep reinit items_sub --tables public\\.items`),
    );
    await untilState('diverged');
  }

  /**
   * The way out as printed (`steep reinit items_sub --tables public.items`, confirmed as a terminal
   * would), under the writer until `more` saw it go on: then no acknowledged id missing on west,
   * both tables equal, `synchronized`, and a verify that finds them equal.
   */
  async function reinitConverges(writer: ItemsWriter, label: string): Promise<void> {
    const [east, west] = [cluster().node('east'), cluster().node('west')];
    const reinit = await steep(['reinit', ITEMS_SUB, '--tables', 'public.items', '--auto-approve']);
    expect(reinit.code, `${reinit.stdout}\n${reinit.stderr}`).toBe(0);
    await writer.more('writes after the copy');
    await writer.stop();
    await waitCaughtUp(east, ITEMS_SUB);
    const lost = await idsMissing(west, 'public.items', writer.acked());
    console.log(`${label}: acknowledged ${writer.acked().length}, missing on west ${lost}`);
    expect(lost).toBe(0);
    expect(await digestsByName(west, ['items'])).toEqual(await digestsByName(east, ['items']));
    await untilHealthy(steep);
    expect((await state()).state).toBe('synchronized');
    const verify = await steep(['verify', ITEMS_SUB]);
    expect(verify.code, verify.stdout).toBe(0);
  }

  return {
    steep,
    setUp,
    startWriter,
    expectGated,
    writeItemsConfig,
    state,
    untilState,
    appliedDiverged,
    reinitConverges,
  };
}
