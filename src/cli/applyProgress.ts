import { Listr, PRESET_TIMESTAMP } from 'listr2';
import type { ApplyEvent, EventSink } from '../executors/events.js';
import type { Step } from '../model/plan.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
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
  private readonly started = new Map<string, Deferred>();
  private readonly finished = new Map<string, Deferred & { skipped?: boolean }>();
  private readonly listr: Listr;
  private readonly rendering: Promise<unknown>;

  constructor(steps: Step[]) {
    for (const s of steps) {
      this.started.set(s.id, deferred());
      this.finished.set(s.id, deferred());
    }
    this.listr = new Listr(
      steps.map((step) => ({
        title: `${step.action} ${step.address} (${step.node})`,
        task: async (_ctx: unknown, task: { title: string; skip: (m?: string) => void }) => {
          await this.started.get(step.id)!.promise;
          const fin = this.finished.get(step.id)!;
          await fin.promise;
          if (fin.skipped) task.skip(`${step.address}: not run`);
        },
      })),
      {
        concurrent: true,
        exitOnError: false,
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
  };

  /** Mark steps that never ran as skipped and wait for the display to finish. */
  async end(notRun: Step[]): Promise<void> {
    for (const s of notRun) {
      const fin = this.finished.get(s.id)!;
      fin.skipped = true;
      this.started.get(s.id)?.resolve();
      fin.resolve();
    }
    await this.rendering;
  }
}
