import { maskDeep } from '../db/mask.js';
import type { ApplyEvent, EventSink } from '../executors/events.js';

/** `--log-format json`: one JSON object per event on stderr (SPEC §10). */
export function jsonEventSink(): EventSink {
  return (e: ApplyEvent) => {
    process.stderr.write(`${JSON.stringify(maskDeep({ timestamp: new Date().toISOString(), ...e }))}\n`);
  };
}

export const ignoreEvents: EventSink = () => {};
