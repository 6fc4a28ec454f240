import { APPLY_LOCK_KEY } from '../../db/advisoryLock.js';
import { THIS_DATABASE_OID } from '../../model/sql.js';
import type { CatalogQuery } from './catalogQuery.js';

/**
 * The session holding steep's advisory lock on this node's database, if any: another steep
 * command at work there (or a killed one whose last statement still runs server-side).
 */
export const STEEP_LOCK: CatalogQuery = {
  name: 'steep-lock',
  text: `select a.application_name, a.pid, a.backend_start
  from pg_catalog.pg_locks l
  join pg_catalog.pg_stat_activity a on a.pid = l.pid
 where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = ${APPLY_LOCK_KEY}::bigint::oid and l.objsubid = 1
   and l.database = ${THIS_DATABASE_OID}
 limit 1`,
};

export interface SteepLockRow {
  application_name: string;
  pid: number;
  backend_start: Date;
}
