import type pg from 'pg';
import { readListedPublications, readPublicationHole } from '../catalog/publicationHole.js';
import { serverVersionOf } from '../catalog/session.js';
import {
  publicationHoleInitWayOut,
  publicationHoleText,
  publicationHoleWayOut,
} from '../model/syncVerdict.js';

/** How often a wait on a slot reads whether it is stuck: within the 10 s no wait stays silent (model/waits.ts). */
export const STUCK_EVERY_MS = 10_000;

/**
 * A wait on a subscription's slot (a reinit's switch, an init's copy) asks this at each of its
 * samples: at most every STUCK_EVERY_MS it reads whether the slot cannot decode past a
 * publication's creation (catalog/publicationHole.ts, 14–17), in which case nothing it waits for
 * ever comes. Its answer is the cause and the way out, or null (sound, or not read this time).
 */
export class StuckSlotWatch {
  private readAt = 0;

  /** `init`: the wait is an init's follow (a reinit's copy too), whose failure only a new init repairs */
  constructor(
    private readonly t: { subscription: string; slot: string; publisher: string },
    private readonly of: 'reinit' | 'init',
  ) {}

  async read(
    subscriber: pg.Client,
    publisher: <T>(fn: (c: pg.Client) => Promise<T>) => Promise<T | null>,
  ): Promise<string | null> {
    const now = Date.now();
    if (now - this.readAt < STUCK_EVERY_MS) return null;
    this.readAt = now;
    const publications = await readListedPublications(subscriber, this.t.subscription).catch(() => []);
    const found = await publisher(async (c) => {
      const version = await serverVersionOf(c);
      const publication = await readPublicationHole(c, { slot: this.t.slot, publications, version });
      return publication === null ? null : { publication, version };
    }).catch(() => null);
    if (!found) return null;
    const s = { slot: this.t.slot, subscription: this.t.subscription, from: this.t.publisher };
    const wayOut = this.of === 'init' ? publicationHoleInitWayOut : publicationHoleWayOut;
    return `${publicationHoleText(s, found.publication, found.version)}; ${wayOut(this.t.subscription)}`;
  }
}
