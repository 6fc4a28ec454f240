import { maskDeep } from '../db/mask.js';

/**
 * Every JSON document steep prints, as text: its strings masked one by one (masking the text would
 * also hit numbers and `null`s, a password `null` or `180004`, and break the JSON), one line
 * unless `indent` is given.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(maskDeep(value), null, indent);
}
