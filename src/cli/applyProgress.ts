import { Listr, PRESET_TIMESTAMP } from 'listr2';
import type { ApplyEvent, EventSink } from '../executors/events.js';
import { printAddress } from '../model/address.js';
import type { Step } from '../model/plan.js';
import { stepClass } from '../model/stepClass.js';
import { SAY_EVERY_MS } from '../model/waits.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * listr2 shows one line per step, driven by the apply's events: the scheduler decides what
 * runs, the display only follows. Without a TTY listr2 falls back to plain timestamped lines.
 */
export class ApplyProgress {
  private readonly started = new Map<string, ReturnType<typeof deferred>>();
  /** running tasks, for live detail under their line */
  private readonly tasks = new Map<string, { output: string }>();
  private readonly lastDetail = new Map<string, { text: string; at: number }>();
  private readonly finished = new Map<string, ReturnType<typeof deferred> & { skipped?: string }>();
  private readonly listr: Listr;
  private readonly rendering: Promise<unknown>;

  constructor(steps: Step[]) {
    for (const s of steps) {
      this.started.set(s.id, deferred());
      this.finished.set(s.id, deferred());
    }
    this.listr = new Listr(
      steps.map((step) => ({
        title: `${step.action} ${printAddress(step.address)} (${step.node})`,
        task: async (_ctx: unknown, task: { title: string; output: string; skip: (m?: string) => void }) => {
          this.tasks.set(step.id, task);
          await this.started.get(step.id)!.promise;
          const fin = this.finished.get(step.id)!;
          await fin.promise;
          if (fin.skipped) task.skip(`${printAddress(step.address)}: ${fin.skipped}`);
        },
      })),
      {
        concurrent: true,
        exitOnError: false,
        // steep's Interruption handles SIGINT; listr2's own handler would exit 127 at once
        registerSignalListeners: false,
        rendererOptions: { collapseErrors: false },
        fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP },
      },
    );
    this.rendering = this.listr.run().catch(() => {});
  }

  readonly sink: EventSink = (e: ApplyEvent) => {
    if (!e.step) return;
    if (e.event === 'apply.step_started') this.started.get(e.step)?.resolve();
    if (e.event === 'apply.step_completed') this.finished.get(e.step)?.resolve();
    if (e.event === 'apply.step_failed') this.finished.get(e.step)?.reject(new Error(e.message ?? 'failed'));
    // a merge says how long it blocks writes, then how long it did; an init, what it has compared
    if (
      (e.event === 'apply.step_waiting' || e.event === 'init.comparing' || e.event.startsWith('merge.')) &&
      e.message
    )
      this.detail(e.step, e.message);
    if (e.event === 'apply.step_interrupted') {
      const fin = this.finished.get(e.step);
      if (fin) fin.skipped = 'still running in PostgreSQL';
      fin?.resolve();
    }
  };

  /**
   * Live detail of a running step (an init's % done, tables, rows/s, ETA) under its line.
   * Without a TTY each detail is a log line: when its phase changes, else one per SAY_EVERY_MS
   * (a wait is never silent for longer); `waiting`: the line says what the step waits for.
   */
  detail(stepId: string, text: string, waiting = false): void {
    const task = this.tasks.get(stepId);
    if (!task) return;
    const now = Date.now();
    const last = this.lastDetail.get(stepId);
    if (!process.stdout.isTTY) {
      const phase = (t: string) => t.split(' ')[0];
      const changed = !last || phase(last.text) !== phase(text);
      // a copy's first line waits for its rate, unless it says what the copy waits for
      const ready = waiting || phase(text) !== 'copying' || text.includes('rows/s');
      if (!(changed && ready) && !(last && now - last.at >= SAY_EVERY_MS)) return;
    }
    this.lastDetail.set(stepId, { text, at: now });
    task.output = text;
  }

  /** Mark steps that never ran as skipped and wait for the display to finish. */
  async end(notRun: Step[]): Promise<void> {
    for (const s of notRun) {
      const fin = this.finished.get(s.id)!;
      fin.skipped ??= 'not run';
      this.started.get(s.id)?.resolve();
      fin.resolve();
    }
    await this.rendering;
  }
}

/**
 * A sink keeping `running` (step id → "action address on node") up to date, for what an
 * interruption waits for. Not init steps: their follow stops at once, their init goes on.
 */
export function runningSteps(steps: Step[], running: Map<string, string>): EventSink {
  const byId = new Map(steps.filter((s) => stepClass(s).run !== 'init').map((s) => [s.id, s]));
  return (e: ApplyEvent) => {
    const step = e.step ? byId.get(e.step) : undefined;
    if (!step) return;
    if (e.event === 'apply.step_started')
      running.set(step.id, `${step.action} ${printAddress(step.address)} on ${step.node}`);
    else if (e.event !== 'apply.step_waiting') running.delete(step.id);
  };
}

/**
 * The step lines of an apply, shown from its `apply.started` event on (every node locked): an
 * apply that loses the lock to another steep command shows none of its steps.
 */
export function progressOnceLocked(steps: Step[]) {
  let progress: ApplyProgress | undefined;
  return {
    sink: ((e: ApplyEvent) => {
      if (!progress && e.event === 'apply.started') progress = new ApplyProgress(steps);
      progress?.sink(e);
    }) as EventSink,
    detail: (stepId: string, text: string, waiting?: boolean) => progress?.detail(stepId, text, waiting),
    end: async (notRun: Step[]) => progress?.end(notRun),
  };
}
