import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';
import { hasTable } from './columns.js';

/** A store of one node's rows in a table of steep's state schema. */
export abstract class StateTable {
  /** the table's name in the state schema */
  protected abstract readonly name: string;

  constructor(
    protected readonly schema: string,
    readonly node: string,
  ) {}

  protected get table(): string {
    return `${quoteIdent(this.schema)}.${this.name}`;
  }

  /** Does the node's state schema have the table (the migration that made it applied)? */
  async exists(client: pg.Client): Promise<boolean> {
    return hasTable(client, this.table);
  }

  /** Delete the node's rows of the subscription (for tables keyed by node and subscription). */
  async clear(client: pg.Client, subscription: string): Promise<void> {
    await client.query(`DELETE FROM ${this.table} WHERE node_name = $1 AND subscription = $2`, [
      this.node,
      subscription,
    ]);
  }
}
