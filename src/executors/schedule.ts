/**
 * Run a dependency graph of steps: a step starts once everything it depends on completed;
 * at most `parallel` at once and one at a time per node (a node's steps share its session).
 * After a failure no new step starts; running ones finish. Once `stop` is aborted (SIGINT/SIGTERM/SIGHUP)
 * the same, except the steps `afterStop` accepts: bookkeeping of what the server already does.
 */
export interface Schedulable {
  id: string;
  node: string;
  dependsOn: string[];
}

export interface ScheduleOutcome<S> {
  completed: S[];
  failed: Array<{ step: S; error: unknown }>;
  notRun: S[];
}

export async function runGraph<S extends Schedulable>(
  steps: S[],
  opts: {
    parallel: number;
    run: (step: S) => Promise<void>;
    stop?: AbortSignal;
    afterStop?: (step: S) => boolean;
  },
): Promise<ScheduleOutcome<S>> {
  const done = new Set<string>();
  const started = new Set<string>();
  const busyNodes = new Set<string>();
  const outcome: ScheduleOutcome<S> = { completed: [], failed: [], notRun: [] };
  let running = 0;
  let stopped = false;

  return new Promise((resolve) => {
    const pump = (): void => {
      if (!stopped) {
        for (const step of steps) {
          if (running >= opts.parallel) break;
          if (opts.stop?.aborted && !opts.afterStop?.(step)) continue;
          if (started.has(step.id) || busyNodes.has(step.node)) continue;
          if (!step.dependsOn.every((d) => done.has(d))) continue;
          started.add(step.id);
          busyNodes.add(step.node);
          running++;
          opts
            .run(step)
            .then(
              () => {
                done.add(step.id);
                outcome.completed.push(step);
              },
              (error: unknown) => {
                stopped = true;
                outcome.failed.push({ step, error });
              },
            )
            .finally(() => {
              running--;
              busyNodes.delete(step.node);
              pump();
            });
        }
      }
      if (running === 0) {
        outcome.notRun = steps.filter((s) => !started.has(s.id));
        resolve(outcome);
      }
    };
    pump();
  });
}
