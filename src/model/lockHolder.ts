/** The session holding steep's advisory lock on a node: another steep command at work there. */
export interface LockHolder {
  applicationName: string;
  pid: number;
  /** when that session started (ISO 8601); null where pg_stat_activity hides it from this role */
  since: string | null;
}

/** "node east: another steep command holds the lock: steep apply (pid 1234, since …); wait …" */
export function lockHeldMessage(node: string, holder: LockHolder | null): string {
  const who = holder
    ? `${holder.applicationName || '(no application_name)'} (pid ${holder.pid}${holder.since ? `, since ${holder.since}` : ''})`
    : 'another session';
  return `node ${node}: another steep command holds the lock: ${who}; wait for it to finish, or end that session`;
}
