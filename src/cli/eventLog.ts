import type { ApplyEvent, EventSink } from '../executors/events.js';
import { jsonText } from './jsonText.js';

/** `--log-format json`: one JSON object per event on stderr (docs/commands.md, Log events). */
export function jsonEventSink(): EventSink {
  return (e: ApplyEvent) => {
    process.stderr.write(`${jsonText({ timestamp: new Date().toISOString(), ...e })}\n`);
  };
}

export const ignoreEvents: EventSink = () => {};

/** Every event to each of `sinks`, in order (an absent one is skipped). */
export function eachSink(...sinks: Array<EventSink | undefined>): EventSink {
  const present = sinks.filter((s) => s !== undefined);
  return (e) => {
    for (const s of present) s(e);
  };
}
