import type pg from 'pg';
import { readInsertLsn, readXidHorizon, slotsBehind, xidsEnded } from '../catalog/slotCatchUp.js';
import { nodeSession, withSession } from '../db/connect.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { Step } from '../model/plan.js';
import type { Topology } from '../model/topology.js';
import { SAY_EVERY_MS } from '../model/waits.js';
import { reshapedText } from '../planner/publications/publicationCatchUp.js';
import { type EventSink, stepFields } from './events.js';
import { sleep } from './sleep.js';

/** How long the wait lasts when the step has no statement timeout. */
const WAIT_MS = 600_000;
const POLL_MS = 200;

/**
 * Right after a publication's creation (`step.catchUpAfter`, planner/publications/
 * publicationCatchUp.ts), on its node: wait until every transaction running at the creation has
 * ended, then until each slot has confirmed the WAL inserted by then. The wait is the client's,
 * in short queries: bounded by the step's statement timeout (600 s without one), stopped by the
 * first SIGINT/SIGTERM/SIGHUP (`signal`), and nothing of it goes on on the server once steep is gone.
 * Not caught up, the step fails before any subscription's publication list changes.
 */
export async function awaitSlotsCatchUp(client: pg.Client, step: Step, opts: WaitOptions): Promise<void> {
  const { publication, slots } = step.catchUpAfter!;
  const words = [
    `publication ${publication} was created`,
    'its subscription would lose the changes decoded before it',
    LIST_LEFT,
  ] as const;
  await slotsPastNow(client, slots, pauser(step, opts, ...words));
}

/**
 * Before a step that adds publications existing already to a streaming subscription's list
 * (`step.catchUpBefore`): the same wait, on a session of the publisher opened for it. Not caught
 * up, the step fails before its statements run.
 */
export async function awaitSlotsBefore(topology: Topology, step: Step, opts: WaitOptions): Promise<void> {
  const { node, publications, slots, reshaped } = step.catchUpBefore!;
  const exist = `exist${publications.length === 1 ? 's' : ''}`;
  const words: readonly [string, string, string] =
    publications.length > 0
      ? [
          `the publication list gains ${publications.join(', ')}, which ${exist} on ${node}`,
          'switched now, it would skip the changes decoded from before they existed',
          LIST_LEFT,
        ]
      : [
          `the refresh copies ${reshapedText(reshaped ?? [])}`,
          'emptied now, a change still on its way under the old shape would be applied after it and the copy would fail on its duplicate key',
          'so nothing of the step ran (the tables are neither emptied nor refreshed)',
        ];
  await withSession(nodeSession(topology, node, 'steep apply (catch-up)'), (client) =>
    slotsPastNow(client, slots, pauser(step, opts, ...words)),
  );
}

export interface WaitOptions {
  statementTimeoutMs: number;
  onEvent: EventSink;
  signal?: AbortSignal;
}

/** What a publication's wait leaves undone when it gives up. */
const LIST_LEFT = 'so its publication list is left as it is';

/**
 * The wait's pause: says what it awaits every few seconds, gives up at the ceiling or a signal,
 * saying what was `done`, the `loss` it avoids and what it `left` undone.
 */
export function pauser(
  step: Step,
  opts: WaitOptions,
  done: string,
  loss: string,
  left: string,
): (what: string) => Promise<void> {
  const ceiling = opts.statementTimeoutMs > 0 ? opts.statementTimeoutMs : WAIT_MS;
  const started = Date.now();
  let said = started;
  const seconds = () => Math.round((Date.now() - started) / 1000);
  return async (what) => {
    if (Date.now() - started >= ceiling || opts.signal?.aborted)
      throw new SteepError(
        'apply.catch_up_waiting',
        `${printAddress(step.address)} on ${step.node}: ${done}, but ${what} ` +
          `(waited ${seconds()} s${opts.signal?.aborted ? ', interrupted' : ''}): ${loss}, ` +
          `${left}; apply again once it has caught up (steep status shows its lag)`,
        { node: step.node, address: step.address },
      );
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      opts.onEvent({
        event: 'apply.step_waiting',
        level: 'warn',
        ...stepFields(step),
        message: `${done}; waiting: ${what} (${seconds()} s of at most ${Math.round(ceiling / 1000)} s)`,
      });
    }
    await sleep(POLL_MS, opts.signal);
  };
}

/**
 * On a publisher, right after something was created there (a publication): until every
 * transaction running now has ended (unless `running: false`), then until each of `slots` has
 * confirmed the WAL inserted by then (`past`: what that position is, for the reader), calling
 * `pause` with what is still awaited between two readings (it sleeps, or throws to give up).
 * What a walsender decodes past that position sees what was created.
 */
export async function slotsPastNow(
  client: pg.Client,
  slots: readonly string[],
  pause: (what: string) => Promise<void>,
  opts: { running: boolean; past: string } = { running: true, past: 'its creation' },
): Promise<void> {
  if (opts.running) {
    const horizon = await readXidHorizon(client);
    while (!(await xidsEnded(client, horizon))) await pause('a transaction begun before it is still running');
  }
  const mark = await readInsertLsn(client);
  for (;;) {
    const behind = await slotsBehind(client, slots, mark);
    if (behind.length === 0) return;
    // why it does not move, as far as the publisher shows it
    const why = behind.map((b) =>
      b.streamed === null
        ? `; slot ${b.name} does not exist there`
        : b.streamed
          ? ''
          : `; no walsender streams slot ${b.name}: its subscription's worker is not running, fails, or connects to another server (steep status says which)`,
    );
    await pause(
      `slot ${behind.map((b) => b.name).join(', ')} has not confirmed a position past ${opts.past} (${mark})${why.join('')}`,
    );
  }
}
