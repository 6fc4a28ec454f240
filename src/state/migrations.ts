import { STEEP_REPLICA_TRIGGERS } from '../model/inboundSubscriptions.js';
import { INIT_STATES } from '../model/initState.js';
import { quoteIdent, quoteLiteral } from '../model/sql.js';

/**
 * steep's own metadata schema on every node (docs/steep-yaml.md, On every node), as versioned migrations.
 *
 * Every key includes the node that wrote the row (`node_name`), so rows that an
 * `allTables` publication replicates from another node never collide, and every reader
 * filters by its own node. Primary keys everywhere, so such replication can also carry
 * UPDATE and DELETE.
 */
export interface Migration {
  version: number;
  statements: string[];
}

export function stateMigrations(schema: string): Migration[] {
  const s = quoteIdent(schema);
  return [
    {
      version: 1,
      statements: [
        `CREATE SCHEMA IF NOT EXISTS ${s}`,
        `COMMENT ON SCHEMA ${s} IS 'steep state: managed by steep, do not edit'`,
        `CREATE TABLE IF NOT EXISTS ${s}.migrations (node_name text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, version))`,
        `CREATE TABLE IF NOT EXISTS ${s}.nodes (node_name text PRIMARY KEY, priority integer NOT NULL DEFAULT 100, topology text NOT NULL, last_seen timestamptz NOT NULL DEFAULT now())`,
        `CREATE TABLE IF NOT EXISTS ${s}.subscription_state (node_name text NOT NULL, subscription text NOT NULL, init_method text NOT NULL, state text NOT NULL DEFAULT 'uninitialized' CHECK (state IN (${INIT_STATES.map(quoteLiteral).join(', ')})), source_node text NOT NULL, started_at timestamptz, completed_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now(), error text, PRIMARY KEY (node_name, subscription))`,
        `CREATE TABLE IF NOT EXISTS ${s}.init_slots (node_name text NOT NULL, slot_name text NOT NULL, subscription text NOT NULL, lsn pg_lsn NOT NULL, snapshot_name text, created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz, PRIMARY KEY (node_name, slot_name))`,
        `CREATE TABLE IF NOT EXISTS ${s}.init_progress (node_name text NOT NULL, subscription text NOT NULL, phase text NOT NULL, overall_percent real NOT NULL DEFAULT 0, tables_total integer NOT NULL DEFAULT 0, tables_completed integer NOT NULL DEFAULT 0, current_table text, rows_copied bigint NOT NULL DEFAULT 0, bytes_copied bigint NOT NULL DEFAULT 0, rows_per_second real NOT NULL DEFAULT 0, eta_seconds integer, started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, subscription))`,
        `CREATE TABLE IF NOT EXISTS ${s}.schema_fingerprints (node_name text NOT NULL, table_schema text NOT NULL, table_name text NOT NULL, fingerprint text NOT NULL, column_count integer NOT NULL, captured_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, table_schema, table_name))`,
        `CREATE TABLE IF NOT EXISTS ${s}.snapshots (node_name text NOT NULL, snapshot_id text NOT NULL, source_node text NOT NULL, lsn pg_lsn, path text NOT NULL, manifest jsonb, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, snapshot_id))`,
        `CREATE TABLE IF NOT EXISTS ${s}.apply_log (node_name text NOT NULL, run_id uuid NOT NULL, step_id text NOT NULL, address text NOT NULL, action text NOT NULL, sql text NOT NULL, status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')), started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, error text, PRIMARY KEY (node_name, run_id, step_id))`,
        `CREATE TABLE IF NOT EXISTS ${s}.merge_log (node_name text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, subscription text NOT NULL, table_name text NOT NULL, row_key jsonb NOT NULL, decision text NOT NULL, chosen_side text, source_row jsonb, target_row jsonb, decided_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, id))`,
      ],
    },
    {
      version: 2,
      statements: [
        // the catalog digest of each managed object as the last successful apply left it: a
        // later difference from steep.yaml is a file change when the object still matches it,
        // and drift (changed outside steep) when it does not
        `CREATE TABLE IF NOT EXISTS ${s}.object_digests (node_name text NOT NULL, address text NOT NULL, digest text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, address))`,
      ],
    },
    {
      version: 3,
      statements: [
        // steep's own copy engine (docs/steep-yaml.md): the chunks of a copy at the snapshot of one slot
        // (its consistent point `lsn`), planned once; a chunk is marked done in the transaction
        // that loads its rows, so an interrupted copy resumes exactly after the chunks it finished
        `CREATE TABLE IF NOT EXISTS ${s}.copy_chunks (node_name text NOT NULL, subscription text NOT NULL, lsn pg_lsn NOT NULL, table_schema text NOT NULL, table_name text NOT NULL, chunk integer NOT NULL, lower_bound text, upper_bound text, estimated_bytes bigint NOT NULL DEFAULT 0, rows bigint, bytes bigint, completed_at timestamptz, PRIMARY KEY (node_name, subscription, lsn, table_schema, table_name, chunk))`,
      ],
    },
    {
      version: 4,
      statements: [
        // the tables `steep verify` last found diverged, per subscription: status and init status
        // name them; reinit of a table, or a verify that finds it equal, removes its row
        `CREATE TABLE IF NOT EXISTS ${s}.diverged_tables (node_name text NOT NULL, subscription text NOT NULL, table_name text NOT NULL, missing bigint NOT NULL, extra bigint NOT NULL, different bigint NOT NULL, verified_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, subscription, table_name))`,
      ],
    },
    {
      version: 5,
      statements: [
        // a step whose apply was stopped by SIGINT/SIGTERM/SIGHUP while its work went on server-side
        // (an init's copy): neither completed nor failed
        `ALTER TABLE ${s}.apply_log DROP CONSTRAINT IF EXISTS apply_log_status_check`,
        `ALTER TABLE ${s}.apply_log ADD CONSTRAINT apply_log_status_check CHECK (status IN ('running', 'completed', 'failed', 'interrupted'))`,
      ],
    },
    {
      version: 6,
      statements: [
        // merge (docs/steep-yaml.md): one row per conflicting key a merge decided, on both nodes of the
        // pair; keyed by the key so a re-run of an interrupted merge rewrites, never duplicates.
        // Replaces migration 1's merge_log, which no steep ever wrote.
        `DROP TABLE IF EXISTS ${s}.merge_log`,
        `CREATE TABLE ${s}.merge_log (node_name text NOT NULL, merge_name text NOT NULL, table_name text NOT NULL, row_key jsonb NOT NULL, strategy text NOT NULL, chosen_node text NOT NULL, node_a text NOT NULL, node_b text NOT NULL, hash_a text NOT NULL, hash_b text NOT NULL, row_a jsonb NOT NULL, row_b jsonb NOT NULL, decided_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, merge_name, table_name, row_key))`,
      ],
    },
    {
      version: 7,
      statements: [
        // two-phase snapshots (docs/steep-yaml.md, On every node, docs/steep-yaml.md), on the subscriber they seed: one row per snapshot
        // (its subscription at its slot's consistent LSN) from generate to apply and delete, so
        // one whose files are gone while its slot still holds WAL can be found. Migration 1's
        // table, which no steep ever wrote (so it is empty), altered rather than recreated: an
        // allTables publication that carries it keeps the same relation.
        `ALTER TABLE ${s}.snapshots DROP COLUMN IF EXISTS manifest, ALTER COLUMN lsn SET NOT NULL, ADD COLUMN subscription text NOT NULL, ADD COLUMN slot_name text NOT NULL, ADD COLUMN manifest_sha256 text, ADD COLUMN files integer, ADD COLUMN rows bigint, ADD COLUMN bytes bigint, ADD COLUMN generated_at timestamptz, ADD COLUMN applied_at timestamptz, ADD COLUMN deleted_at timestamptz, ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(), ADD CONSTRAINT snapshots_status_check CHECK (status IN ('generating', 'generated', 'applying', 'applied', 'deleted'))`,
      ],
    },
    {
      version: 8,
      statements: [
        // `steep init cancel` of a two-phase init drops the slot its snapshot was taken on: the
        // snapshot can no longer be applied, and its record says so (`cancelled`)
        `ALTER TABLE ${s}.snapshots DROP CONSTRAINT snapshots_status_check, ADD CONSTRAINT snapshots_status_check CHECK (status IN ('generating', 'generated', 'applying', 'applied', 'deleted', 'cancelled'))`,
        `ALTER TABLE ${s}.snapshots ADD COLUMN cancelled_at timestamptz`,
      ],
    },
    {
      version: 9,
      statements: [
        // steep's own copy builds a big table's indexes after loading it (copy/deferredIndexes.ts):
        // each index it dropped, with the statement that builds it again, until it is built
        `CREATE TABLE IF NOT EXISTS ${s}.deferred_indexes (node_name text NOT NULL, subscription text NOT NULL, table_schema text NOT NULL, table_name text NOT NULL, index_name text NOT NULL, position integer NOT NULL, definition text NOT NULL, deferred_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, subscription, table_schema, table_name, index_name))`,
      ],
    },
    {
      version: 10,
      statements: [
        // the last `steep verify` of each subscription (and of each table it compared): when, its
        // verdict, and on PostgreSQL 18 the subscription's conflict counters
        // (pg_stat_subscription_stats.confl_*) as the verify began, so status and drift can say
        // which counters rose since
        `CREATE TABLE IF NOT EXISTS ${s}.verifications (node_name text NOT NULL, subscription text NOT NULL, started_at timestamptz NOT NULL, verified_at timestamptz NOT NULL DEFAULT now(), verdict text NOT NULL CHECK (verdict IN ('equal', 'diverged', 'not_verifiable')), tables_compared integer NOT NULL, tables_diverged integer NOT NULL, tables_not_verifiable integer NOT NULL, conflicts jsonb, PRIMARY KEY (node_name, subscription))`,
        `CREATE TABLE IF NOT EXISTS ${s}.verified_tables (node_name text NOT NULL, subscription text NOT NULL, table_name text NOT NULL, verified_at timestamptz NOT NULL DEFAULT now(), verdict text NOT NULL CHECK (verdict IN ('equal', 'diverged', 'not_verifiable')), rows bigint NOT NULL, missing bigint NOT NULL, extra bigint NOT NULL, different bigint NOT NULL, PRIMARY KEY (node_name, subscription, table_name))`,
      ],
    },
    {
      version: 11,
      statements: [
        // what each subscription had applied (its origin's LSN) when steep last saw it stream from
        // a primary, per primary (system identifier and timeline), and whether it was ready for a
        // failover then: after a promotion, the proof that it applied nothing past the fork point
        // must not rest on a position its reconnect to the new primary has already moved.
        // settled_at: a steep reinit --full from that primary, or a verify there that found every
        // table equal (settled_by says which), puts a failover before it behind the subscription
        `CREATE TABLE IF NOT EXISTS ${s}.stream_positions (node_name text NOT NULL, subscription text NOT NULL, system_identifier text NOT NULL, timeline integer NOT NULL, origin_lsn pg_lsn NOT NULL, ready boolean NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), settled_at timestamptz, settled_by text CHECK (settled_by IN ('reinit', 'verify')), PRIMARY KEY (node_name, subscription, system_identifier, timeline))`,
      ],
    },
    {
      version: 12,
      statements: [
        // steep's last reading of each subscription's error counters (pg_stat_subscription_stats,
        // PostgreSQL 15+, cumulative): `status` says synchronized only when they did not rise
        // since, and keeps a rise it saw (rose_at) for a while (model/syncVerdict.ts)
        `CREATE TABLE IF NOT EXISTS ${s}.status_readings (node_name text NOT NULL, subscription text NOT NULL, apply_errors bigint NOT NULL, sync_errors bigint NOT NULL, read_at timestamptz NOT NULL, rose_at timestamptz, PRIMARY KEY (node_name, subscription))`,
      ],
    },
    {
      version: 13,
      statements: [
        // continuity (model/continuity.ts): per subscription instance (its pg_subscription oid)
        // and table, the publisher's memberships (publication oid, pg_publication_rel or
        // pg_publication_namespace row oid) when steep first saw the table's stream running, and
        // a gap once found (gap_since, gap_reason), kept until a copy or a verify clears it
        `CREATE TABLE IF NOT EXISTS ${s}.stream_continuity (node_name text NOT NULL, subscription text NOT NULL, table_name text NOT NULL, subscription_oid bigint NOT NULL, members jsonb NOT NULL, since timestamptz NOT NULL, gap_since timestamptz, gap_reason text, PRIMARY KEY (node_name, subscription, table_name))`,
      ],
    },
    {
      version: 14,
      statements: [
        // a reading after a promotion that found the subscriber had applied nothing past the fork
        // settles the failover as resumed (settled_by 'failover'): once it streams from the new
        // primary its position can no longer show it (planner/failover/failoverPromotion.ts)
        `ALTER TABLE ${s}.stream_positions DROP CONSTRAINT IF EXISTS stream_positions_settled_by_check`,
        `ALTER TABLE ${s}.stream_positions ADD CONSTRAINT stream_positions_settled_by_check CHECK (settled_by IN ('reinit', 'verify', 'failover'))`,
      ],
    },
    {
      version: 15,
      // an `allTables` publication publishes the state schema too: a row another node's state
      // reaches this one by (apply or table sync) replaces the copy of it an earlier subscription
      // left here, instead of stopping the copy on its key (docs/state-schema.md)
      statements: [
        replicatedRowFunction(s),
        ...REPLICATED_STATE_TABLES.flatMap((t) => replicatedRowTrigger(s, t)),
      ],
    },
    {
      version: 16,
      statements: [
        // column identity (model/columnIdentity.ts): the publisher's attnum and type of each column
        // name of the table when steep's baseline was taken, and the kind of a gap found
        // (`columns`: a name given to another column; NULL: a membership broke)
        `ALTER TABLE ${s}.stream_continuity ADD COLUMN IF NOT EXISTS columns jsonb, ADD COLUMN IF NOT EXISTS gap_kind text`,
      ],
    },
    {
      version: 17,
      statements: [
        // who keeps a saved fingerprint (state/fingerprints.ts): 'apply' while the table is
        // subscribed, deleted once it leaves every subscription of the node; 'save' for what only
        // `schema fingerprint --save` recorded; NULL for rows saved before this migration
        `ALTER TABLE ${s}.schema_fingerprints ADD COLUMN IF NOT EXISTS saved_by text CHECK (saved_by IN ('apply', 'save'))`,
      ],
    },
    {
      version: 18,
      statements: [
        // the DISABLE apply ran last on each subscription (state/disables.ts): its oid and the
        // apply + sync errors counted then, with their statistics' reset time. A subscription
        // still disabled with no error counted since is steep's to enable, not disabled by
        // PostgreSQL at an error (model/disableOnError.ts `disabledOnError`)
        `CREATE TABLE IF NOT EXISTS ${s}.disables (node_name text NOT NULL, subscription text NOT NULL, subid oid NOT NULL, errors bigint NOT NULL, stats_reset timestamptz, disabled_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, subscription))`,
        ...replicatedRowTrigger(s, 'disables'),
      ],
    },
    {
      version: 19,
      statements: [
        // `verify --rolling` (state/verifiedSegments.ts): each table of a subscription cut into
        // half-open ranges of its first key column, [lo, hi) with NULL for an open end, each
        // with when a rolling verify last compared it (compared_at), what it found, and when it
        // last found it equal (equal_at); key_column is the first key column the ranges are of
        `CREATE TABLE IF NOT EXISTS ${s}.verified_segments (node_name text NOT NULL, subscription text NOT NULL, table_name text NOT NULL, segment integer NOT NULL, key_column text, lo text, hi text, rows bigint NOT NULL DEFAULT 0, compared_at timestamptz, verdict text CHECK (verdict IN ('equal', 'diverged', 'not_verifiable')), equal_at timestamptz, PRIMARY KEY (node_name, subscription, table_name, segment))`,
        ...replicatedRowTrigger(s, 'verified_segments'),
      ],
    },
    {
      version: 20,
      statements: [
        // an init's comparison of a table of verify.fullBelow or more compares a sample of its
        // segments (model/initEvidence.ts): how many it compared of how many; NULL: every row.
        // not_comparable: no comparison can call the table equal as it is published (the verify
        // window leaves it out, saying so)
        `ALTER TABLE ${s}.verified_tables ADD COLUMN IF NOT EXISTS sampled_segments integer, ADD COLUMN IF NOT EXISTS segments integer, ADD COLUMN IF NOT EXISTS not_comparable boolean NOT NULL DEFAULT false`,
      ],
    },
    {
      version: 21,
      statements: [
        // a physical init's mark (state/cloneMarks.ts): a random word the publisher commits before
        // `steep init prepare` makes the slot, so only a copy of this publisher taken after it holds it
        `CREATE TABLE IF NOT EXISTS ${s}.clone_marks (node_name text NOT NULL, slot_name text NOT NULL, mark text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node_name, slot_name))`,
        ...replicatedRowTrigger(s, 'clone_marks'),
      ],
    },
    {
      version: 22,
      statements: [
        // the subscriber's own timeline when steep last read each subscription there, and the
        // reading that first found it on a newer one (a promoted standby, a point-in-time restore):
        // comparisons made before it prove nothing of what the old server had applied
        // (model/subscriberPromotion.ts)
        `CREATE TABLE IF NOT EXISTS ${s}.subscriber_timelines (node_name text NOT NULL, subscription text NOT NULL, subid oid NOT NULL, system_identifier text NOT NULL, timeline integer NOT NULL, read_at timestamptz NOT NULL, promoted_at timestamptz, promoted_from integer, promoted_last_read timestamptz, PRIMARY KEY (node_name, subscription))`,
        ...replicatedRowTrigger(s, 'subscriber_timelines'),
      ],
    },
    {
      version: 23,
      statements: [
        // PostgreSQL 18's conflict counters read before the comparison that last found the
        // segment equal (equal_at): once every segment of a subscription has one, conflicts
        // counted before the oldest are confirmed (model/verifyRecord.ts conflictBaseline)
        `ALTER TABLE ${s}.verified_segments ADD COLUMN IF NOT EXISTS equal_conflicts jsonb`,
      ],
    },
    {
      version: 24,
      statements: [
        // a disabled subscription's positions at the last reading that found it paused (its slot's
        // confirmed position, its origin's, pg_subscription's row version): moved forward by the
        // next, by hand, is a gap (model/continuity.ts PausedPositions)
        `ALTER TABLE ${s}.stream_continuity ADD COLUMN IF NOT EXISTS paused jsonb`,
      ],
    },
    {
      version: 25,
      statements: [
        // the count of transactions the subscription's slot had decoded at a recent reading, and
        // since when it counts: a smaller one later, counting since the same moment, is the slot
        // dropped and created again, a gap (model/handMoves.ts DecodedRecord)
        `ALTER TABLE ${s}.stream_continuity ADD COLUMN IF NOT EXISTS decoded jsonb`,
      ],
    },
    {
      version: 26,
      statements: [
        // the row versions of what the publisher's table held (its namespace row, the tables
        // under a partitioned one): another one later is a table out of its schema and back, or
        // one attached or detached under it (model/treeContents.ts)
        `ALTER TABLE ${s}.stream_continuity ADD COLUMN IF NOT EXISTS contents jsonb`,
      ],
    },
  ];
}

/**
 * The state tables as of migration 15, each with a BEFORE INSERT trigger that fires only in
 * PostgreSQL's logical replication workers (docs/state-schema.md). A migration that adds a
 * table adds the trigger with it (replicatedRowTrigger).
 */
export const REPLICATED_STATE_TABLES = [
  'migrations',
  'nodes',
  'subscription_state',
  'init_slots',
  'init_progress',
  'schema_fingerprints',
  'snapshots',
  'apply_log',
  'merge_log',
  'object_digests',
  'copy_chunks',
  'diverged_tables',
  'deferred_indexes',
  'verifications',
  'verified_tables',
  'stream_positions',
  'status_readings',
  'stream_continuity',
] as const;

const [REPLICATED_ROW] = STEEP_REPLICA_TRIGGERS;

/**
 * The trigger function: in an apply or table sync worker (backend_type `logical replication …`;
 * steep's own copy runs with session_replication_role = replica too, as a client backend, and is
 * left alone), the row with the incoming row's primary key is deleted first, so the insert
 * replaces it; every other session inserts as usual.
 */
function replicatedRowFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.${REPLICATED_ROW}() RETURNS trigger LANGUAGE plpgsql AS $steep$
DECLARE
  k text;
  v text;
BEGIN
  IF coalesce((SELECT a.backend_type FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a), '') NOT LIKE 'logical replication%' THEN
    RETURN NEW;
  END IF;
  SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY c.n),
         string_agg('($1).' || pg_catalog.quote_ident(a.attname), ', ' ORDER BY c.n)
    INTO k, v
    FROM pg_catalog.pg_index i, unnest(i.indkey) WITH ORDINALITY AS c(attnum, n), pg_catalog.pg_attribute a
   WHERE i.indrelid = TG_RELID AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = c.attnum;
  IF k IS NOT NULL THEN
    EXECUTE pg_catalog.format('DELETE FROM %I.%I WHERE (%s) = (%s)', TG_TABLE_SCHEMA, TG_TABLE_NAME, k, v) USING NEW;
  END IF;
  RETURN NEW;
END
$steep$`;
}

/** The trigger on one state table: ENABLE REPLICA, so only sessions with session_replication_role = replica fire it. */
export function replicatedRowTrigger(s: string, table: string): string[] {
  const t = `${s}.${quoteIdent(table)}`;
  return [
    `DROP TRIGGER IF EXISTS ${REPLICATED_ROW} ON ${t}`,
    `CREATE TRIGGER ${REPLICATED_ROW} BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${s}.${REPLICATED_ROW}()`,
    `ALTER TABLE ${t} ENABLE REPLICA TRIGGER ${REPLICATED_ROW}`,
  ];
}
