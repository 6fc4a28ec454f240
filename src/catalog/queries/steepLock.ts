import { LOCK_HOLDER_SQL } from '../../db/advisoryLock.js';
import type { CatalogQuery } from './catalogQuery.js';

/** The session holding steep's advisory lock on this node's database, if any (db/advisoryLock.ts). */
export const STEEP_LOCK: CatalogQuery = { name: 'steep-lock', text: LOCK_HOLDER_SQL };
