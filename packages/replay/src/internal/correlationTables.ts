/**
 * The correlation index table's name (validated and quoted) and its DDL for
 * each dialect, shared by `CorrelationIndexSql` and
 * `CorrelationIndexMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import type { Dialect, Table } from "./sqlTable.ts"
import * as SqlTable from "./sqlTable.ts"

export type { Dialect, Table } from "./sqlTable.ts"
export { dialectOf } from "./sqlTable.ts"

/** The default table. */
export const defaultTable = "herald_correlation_index"

/** PostgreSQL's 63 characters, minus the longest suffix (`_correlation_idx`). */
const maxTable = 47

/**
 * The first migration's DDL: the table and its index on the correlation id,
 * created when missing. Later columns are `table`'s `columns`.
 */
export const ddl = (dialect: Dialect, table: Table): ReadonlyArray<string> => {
  const int64 = dialect === "pg" ? "BIGINT" : "INTEGER"
  // PostgreSQL puts an index in its table's schema and wants the bare name;
  // SQLite qualifies the index name and wants the bare table name.
  const schema = table.schema === undefined ? "" : `"${table.schema}".`
  const index = dialect === "pg"
    ? `CREATE INDEX IF NOT EXISTS "${table.name}_correlation_idx" ON ${table.quoted} (correlation_id)`
    : `CREATE INDEX IF NOT EXISTS ${schema}"${table.name}_correlation_idx" ON "${table.name}" (correlation_id)`
  return [
    `CREATE TABLE IF NOT EXISTS ${table.quoted} (
  stream TEXT NOT NULL,
  sequence ${int64} NOT NULL,
  correlation_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  causation_id TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT NOT NULL,
  timestamp ${int64} NOT NULL,
  PRIMARY KEY (stream, sequence)
)${dialect === "pg" ? "" : " WITHOUT ROWID"}`,
    index
  ]
}

/** The table's name checks, DDL and migrations. */
export const table = SqlTable.make({
  what: "table",
  defaultTable,
  maxLength: maxTable,
  lock: "herald_correlation_index",
  migration: "1_create_correlation_index",
  span: "CorrelationIndexMigrations.migrate",
  ddl,
  columns: [{ migration: "2_add_kind", name: "kind", type: "TEXT" }]
})

/** Checks a table name (`SqlName.parse`), at most {@link table}'s length. */
export const parse = table.parse
