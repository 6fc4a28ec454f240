import { stripVTControlCharacters } from 'node:util';
import { Command, type Interfaces } from '@oclif/core';
import { nearest } from '../config/suggest.js';
import { inRun, mask, registerSecretsIn } from '../db/mask.js';
import type { EventSink } from '../executors/events.js';
import { formatProblem, type Problem, SteepError } from '../model/errors.js';
import { useColour } from '../render/colour.js';
import type { Interruption } from './interruption.js';
import { setExitCode } from './invocation.js';
import { jsonText } from './jsonText.js';

type FlagOutput = Record<string, unknown>;

/**
 * Every steep command: errors become one masked sentence on stderr and exit 1
 * (the stack only with STEEP_DEBUG=1); results go to stdout through `out`.
 */
export abstract class SteepCommand extends Command {
  /** `--log-format json`: every line on stderr is one JSON object (docs/commands.md, Log events), errors included. */
  private jsonLogFormat = false;

  /**
   * The command as one run (db/mask.ts): the secrets it meets mask its output and no other
   * command's. A password typed on the command line (a URL or `password=…` where steep takes
   * none) is one, so the error that echoes the words back masks it: oclif has cut a URL at its
   * colons by then, which hides it from mask()'s URL pattern.
   */
  protected override _run<T>(): Promise<T> {
    return inRun(() => {
      registerSecretsIn(this.argv);
      return super._run<T>();
    });
  }

  protected override async init(): Promise<void> {
    await super.init();
    // read from argv, not the parsed flags: an error before or during parsing is logged alike
    const i = this.argv.indexOf('--log-format');
    this.jsonLogFormat = this.argv.includes('--log-format=json') || (i >= 0 && this.argv[i + 1] === 'json');
  }

  /** oclif's parse; then text output is coloured unless `--no-color`, NO_COLOR or no terminal says otherwise. */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends FlagOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv);
    useColour(!parsed.flags['no-color'] && !process.env.NO_COLOR && process.stdout.isTTY === true);
    return parsed;
  }

  /** Write a workflow result's config warnings to stderr; returns the rest of the result. */
  protected warned<T extends { configWarnings: Problem[] }>(result: T): Omit<T, 'configWarnings'> {
    const { configWarnings, ...rest } = result;
    for (const w of configWarnings) this.err(formatProblem(w));
    return rest;
  }

  /** Write lines to stdout, masked. */
  protected out(...lines: string[]): void {
    process.stdout.write(`${mask(lines.join('\n'))}\n`);
  }

  /** Write a JSON document to stdout, masked (`jsonText`): every command's JSON goes through here. */
  protected outJson(value: unknown, indent?: number): void {
    process.stdout.write(`${jsonText(value, indent)}\n`);
  }

  /**
   * Run `work`, then dispose `interruption`. A run a signal stopped, told by its SteepError `code`
   * (what was done, what is left and the command that follows), gives undefined: said on stderr,
   * with --json also on stdout as `{subscription, signal, stopped}`; the exit code is the signal's
   * (130/143/129). Any other error is thrown on.
   */
  protected async stoppable<T>(
    interruption: Interruption,
    code: string,
    json: { subscription: string } | null,
    work: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof SteepError && err.code === code)) throw err;
      this.err(err.message, 'warn');
      if (json)
        this.outJson({
          subscription: json.subscription,
          signal: interruption.received,
          stopped: err.message,
        });
      setExitCode(interruption.exitCode ?? 1);
      return undefined;
    } finally {
      interruption.dispose();
    }
  }

  /**
   * Write to stderr, masked. With `--log-format json`, as an `error`, `warning` or `message`
   * event (the level defaults from the text: a formatted warning is `warn`, the rest `error`).
   */
  protected err(text: string, level?: 'info' | 'warn' | 'error'): void {
    if (!this.jsonLogFormat) {
      process.stderr.write(`${mask(text)}\n`);
      return;
    }
    const lvl = level ?? (/(^|: )warning: /.test(text) ? 'warn' : 'error');
    const event = lvl === 'error' ? 'error' : lvl === 'warn' ? 'warning' : 'message';
    const line = { timestamp: new Date().toISOString(), level: lvl, event, message: mask(text) };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  }

  /**
   * Where a workflow's events go: with `--log-format json` each is one JSON line on stderr
   * (docs/commands.md, Log events), else to `text`, by default nowhere.
   */
  protected events(text?: EventSink): EventSink {
    if (!this.jsonLogFormat) return text ?? (() => {});
    return (e) => process.stderr.write(`${jsonText({ timestamp: new Date().toISOString(), ...e })}\n`);
  }

  /** oclif's parse error as one sentence, with the nearest flag for a misspelt one. */
  private misuse(error: Error & { flags?: unknown; args?: unknown }): string {
    const command = `steep ${this.id?.replace(/:/g, ' ') ?? ''}`.trim();
    const known = Object.entries(this.ctor.flags ?? {}).flatMap(([name, f]) => [
      `--${name}`,
      ...((f as { allowNo?: boolean }).allowNo ? [`--no-${name}`] : []),
    ]);
    if (/^Nonexistent flag/.test(error.message) && Array.isArray(error.flags)) {
      return (error.flags as string[])
        .map((flag) => {
          const best = nearest(flag.split('=')[0]!, known);
          return `\`${command}\` has no flag ${flag}${best ? `; did you mean ${best}?` : ` (see \`${command} --help\`)`}`;
        })
        .join('; ');
    }
    if (/^Unexpected argument/.test(error.message) && Array.isArray(error.args)) {
      const extra = (error.args as string[]).map((a) => `"${a}"`).join(' ');
      return `\`${command}\` takes no more arguments: unexpected ${extra} (see \`${command} --help\`)`;
    }
    if (/^Missing \d+ required arg/.test(error.message) && Array.isArray(error.args)) {
      const names = (error.args as Array<{ name?: string }>).map((a) => (a.name ?? 'argument').toUpperCase());
      return `\`${command}\` needs ${names.join(' ')} (see \`${command} --help\`)`;
    }
    // oclif's flag-constraint errors put their reasons on the lines after a heading
    const lines = stripVTControlCharacters(error.message)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^See more help with/.test(l));
    if (/^The following errors? occurred:$/.test(lines[0] ?? '') && lines.length > 1)
      return `\`${command}\`: ${lines.slice(1).join('; ')}`;
    // a flag's own parse refused its value: `Parsing --flag` then the reason
    const parsing = /^Parsing (--\S+)/.exec(lines[0] ?? '');
    if (parsing && lines.length > 1) return `${parsing[1]}: ${lines.slice(1).join('; ')}`;
    return lines[0] ?? error.message;
  }

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<unknown> {
    // oclif's own flag/argument parse errors and this.exit() carry an exit code; a flag's own
    // parse function's error comes back as `Parsing --flag` without one
    const exit = error.oclif?.exit ?? (/^Parsing --/.test(error.message) ? 2 : undefined);
    if (exit !== undefined && !(error instanceof SteepError)) {
      if (exit === 0) return;
      // a parse that failed was still a parse: oclif would warn the command never called it
      this.parsed = true;
      if (error.message && !/^EEXIT/.test(error.message)) this.err(`error: ${this.misuse(error)}`);
      // oclif exits 2 on a bad flag or argument; steep keeps 2 for "changes or drift found"
      setExitCode(exit === 2 ? 1 : exit);
      return;
    }
    if (error instanceof SteepError) {
      for (const p of error.problems) this.err(formatProblem(p));
      const { code, message, hint, position } = error;
      if (error.problems.length === 0)
        this.err(`error: ${formatProblem({ severity: 'error', code, message, hint, position })}`);
    } else {
      this.err(`error: ${error.message}`);
    }
    if (process.env.STEEP_DEBUG === '1' && error.stack) this.err(error.stack);
    setExitCode(1);
  }
}
