import type pg from 'pg';
import type { ConnectionSpec } from '../model/topology.js';
import { connect } from './connect.js';
import { mask } from './mask.js';

/**
 * A session for repeated sampling: connects on first use, and after a failure (the node went
 * away, a query failed) closes and connects again on the next use. `error` says why the last
 * use failed (masked), null after a success.
 */
export class ReconnectingSession {
  private client: pg.Client | null = null;
  error: string | null = null;

  constructor(
    readonly node: string,
    private readonly connection: ConnectionSpec,
    private readonly opts: {
      applicationName: string;
      connectTimeoutMs?: number;
      statementTimeoutMs?: number;
    },
  ) {}

  /** fn's result, or null when the node could not be reached or fn failed (see `error`). */
  async use<T>(fn: (c: pg.Client) => Promise<T>): Promise<T | null> {
    try {
      if (!this.client) {
        this.client = await connect(this.connection, {
          node: this.node,
          applicationName: this.opts.applicationName,
          connectTimeoutMs: this.opts.connectTimeoutMs ?? 5_000,
          statementTimeoutMs: this.opts.statementTimeoutMs ?? 10_000,
        });
      }
      const out = await fn(this.client);
      this.error = null;
      return out;
    } catch (err) {
      this.error = mask(err instanceof Error ? err.message : String(err));
      await this.close();
      return null;
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}
