import { Listr } from 'listr2';

/** One listr2 line on a TTY whose detail a long command keeps updating (verify, reinit). */
export class LineProgress {
  private task: { output: string } | null = null;
  private pending = '';
  private finish!: () => void;
  private readonly rendering: Promise<unknown>;

  constructor(title: string) {
    const finished = new Promise<void>((r) => {
      this.finish = r;
    });
    this.rendering = new Listr(
      [
        {
          title,
          task: async (_ctx: unknown, task: { output: string }) => {
            this.task = task;
            if (this.pending) task.output = this.pending;
            await finished;
          },
        },
      ],
      { registerSignalListeners: false },
    ) // steep's Interruption handles SIGINT (listr2's exits 127)
      .run()
      .catch(() => {});
  }

  set(text: string): void {
    this.pending = text;
    if (this.task) this.task.output = text;
  }

  async end(): Promise<void> {
    this.finish();
    await this.rendering;
  }
}
