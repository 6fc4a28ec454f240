/**
 * SIGINT/SIGTERM/SIGHUP in a command that changes nodes (docs/commands.md, Interrupting). Until `arm()` nothing has been
 * changed: a signal exits at once (130 / 143 / 129). Once armed, the first signal aborts `signal`, so
 * the workflow starts no new step and lets the running ones finish; the command then reports
 * and exits with `exitCode`. A second signal exits at once, leaving what runs to PostgreSQL.
 *
 * SIGHUP is an ssh session or terminal that went away: it stops like SIGTERM, and the terminal
 * or pipes it leaves behind fail every write (EIO, EPIPE). Node reports such a failure as an
 * 'error' event on process.stdout/stderr, which with no listener ends the process at once (exit
 * 1) — in the middle of a switchover's undo. While installed, a failed write is dropped instead:
 * the work, and the undo, go on without the terminal.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** The shell's convention: 128 + the signal's number. */
export const SIGNAL_EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

const SIGNALS = Object.keys(SIGNAL_EXIT_CODE) as StopSignal[];

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
  /** a write to stdout or stderr failed: the terminal or the pipes are gone */
  outputLost = false;

  constructor(
    private readonly say: (text: string) => void,
    private readonly text: InterruptionText,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** 130 after SIGINT, 143 after SIGTERM, 129 after SIGHUP; undefined while no signal came. */
  get exitCode(): number | undefined {
    return this.received ? SIGNAL_EXIT_CODE[this.received] : undefined;
  }

  install(): this {
    for (const s of SIGNALS) process.on(s, this.handlers[s]);
    process.stdout.on('error', this.onOutputError);
    process.stderr.on('error', this.onOutputError);
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
    for (const s of SIGNALS) process.removeListener(s, this.handlers[s]);
    // a failed write reports its error on a later tick: the listeners stay until it has come
    // (the command's last lines are written just before this)
    setImmediate(() => {
      process.stdout.removeListener('error', this.onOutputError);
      process.stderr.removeListener('error', this.onOutputError);
    });
  }

  private readonly handlers: Record<StopSignal, () => void> = {
    SIGINT: () => this.on('SIGINT'),
    SIGTERM: () => this.on('SIGTERM'),
    SIGHUP: () => this.on('SIGHUP'),
  };

  private readonly onOutputError = () => {
    this.outputLost = true;
  };

  /** Say it where the output still goes; a write that fails must not stop what follows. */
  private tell(text: string): void {
    try {
      this.say(text);
    } catch {
      this.outputLost = true;
    }
  }

  private on(signal: StopSignal): void {
    if (!this.armed || this.received) {
      // stderr is synchronous on pipes and terminals (Linux): the sentence is out before the exit
      const { before = 'nothing was changed', again } = this.text;
      const said = !this.received ? before : typeof again === 'string' ? again : again();
      this.tell(`interrupted (${signal}): ${said}`);
      process.exit(SIGNAL_EXIT_CODE[signal]);
    }
    this.received = signal;
    this.tell(`interrupted (${signal}): ${this.text.first()}`);
    this.controller.abort();
  }
}
