/**
 * Which running PostgreSQL server a node's database lives on. The system identifier alone is not
 * enough: a clone made with pg_basebackup (a promoted standby) keeps it, so the postmaster's start
 * time tells two running servers apart. Equal on two nodes only when they are one server. The
 * timeline is not part of it (a promotion keeps the server): model/subscriberPromotion.ts reads it.
 */
export interface ServerIdentity {
  /** pg_control_system().system_identifier */
  systemIdentifier: string;
  /** pg_postmaster_start_time() as epoch seconds, to the microsecond */
  startedAt: string;
  /** the timeline it writes WAL on (a promotion or a point-in-time restore starts a new one); null or absent: in recovery, or not read */
  timeline?: number | null;
}
