import type { EventSink } from '../executors/events.js';

export const ignoreEvents: EventSink = () => {};

/** Every event to each of `sinks`, in order (an absent one is skipped). */
export function eachSink(...sinks: Array<EventSink | undefined>): EventSink {
  const present = sinks.filter((s) => s !== undefined);
  return (e) => {
    for (const s of present) s(e);
  };
}
