/**
 * SIGINT/SIGTERM in a command that changes nodes (docs/commands.md, Interrupting). Until `arm()` nothing has been
 * changed: a signal exits at once (130 / 143). Once armed, the first signal aborts `signal`, so
 * the workflow starts no new step and lets the running ones finish; the command then reports
 * and exits with `exitCode`. A second signal exits at once, leaving what runs to PostgreSQL.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The shell's convention: 128 + the signal's number. */
export const SIGNAL_EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export interface InterruptionText {
  /** a signal before anything changed; default: nothing was changed */
  before?: string;
  /** the first signal once armed: what it waits for */
  first: () => string;
  /** the second signal: what is left running */
  again: string | (() => string);
}

export class Interruption {
  private readonly controller = new AbortController();
  private armed = false;
  received: StopSignal | null = null;

  constructor(
    private readonly say: (text: string) => void,
    private readonly text: InterruptionText,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** 130 after SIGINT, 143 after SIGTERM; undefined while no signal came. */
  get exitCode(): number | undefined {
    return this.received ? SIGNAL_EXIT_CODE[this.received] : undefined;
  }

  install(): this {
    process.on('SIGINT', this.onSigint);
    process.on('SIGTERM', this.onSigterm);
    return this;
  }

  /** From here on a signal stops the work gracefully instead of exiting. */
  arm(): void {
    this.armed = true;
  }

  /** From here on a signal exits at once again (unless one came while armed). */
  disarm(): void {
    this.armed = false;
  }

  dispose(): void {
    process.removeListener('SIGINT', this.onSigint);
    process.removeListener('SIGTERM', this.onSigterm);
  }

  private readonly onSigint = () => this.on('SIGINT');
  private readonly onSigterm = () => this.on('SIGTERM');

  private on(signal: StopSignal): void {
    if (!this.armed || this.received) {
      // stderr is synchronous on pipes and terminals (Linux): the sentence is out before the exit
      const { before = 'nothing was changed', again } = this.text;
      const said = !this.received ? before : typeof again === 'string' ? again : again();
      this.say(`interrupted (${signal}): ${said}`);
      process.exit(SIGNAL_EXIT_CODE[signal]);
    }
    this.received = signal;
    this.say(`interrupted (${signal}): ${this.text.first()}`);
    this.controller.abort();
  }
}
