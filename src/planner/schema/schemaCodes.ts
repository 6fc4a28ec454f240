/** Warnings and errors of schema sync carry codes under `schema.`; `steep drift` counts them as drift. */
export const SCHEMA_CODES = {
  mismatch: 'schema.mismatch',
  manual: 'schema.manual',
  /** manual mode: a publisher column the subscriber lacks, so its apply worker stops on the table */
  cannotApply: 'schema.cannot-apply',
  cannotSync: 'schema.cannot-sync',
  extraColumn: 'schema.extra-column',
  conflict: 'schema.conflict',
  enumLabels: 'schema.enum-labels',
  notNullAdd: 'schema.not-null-add',
  /** the publisher gave a column name to another column: rows are in the wrong column (model/columnIdentity.ts) */
  columnIdentity: 'schema.column-identity',
} as const;
