/**
 * The snapshot table's name (validated and quoted) and its DDL for each
 * dialect, for `SnapshotSql`.
 *
 * @since 0.1.0
 * @internal
 */
import type { Dialect, Table } from "./sqlTable.ts"
import * as SqlTable from "./sqlTable.ts"

export type { Dialect, Table } from "./sqlTable.ts"
export { dialectOf } from "./sqlTable.ts"

/** The default table. */
export const defaultTable = "herald_replay_snapshots"

/** PostgreSQL's 63 characters, minus the longest suffix (`_migrations`, of the default migrations table). */
const maxTable = 52

/** The DDL: the table, created when missing (its primary key orders a projection's snapshots by sequence). */
export const ddl = (dialect: Dialect, table: Table): ReadonlyArray<string> => {
  const int64 = dialect === "pg" ? "BIGINT" : "INTEGER"
  const withoutRowid = dialect === "pg" ? "" : " WITHOUT ROWID"
  return [
    `CREATE TABLE IF NOT EXISTS ${table.quoted} (
  name TEXT NOT NULL,
  sequence ${int64} NOT NULL CHECK (sequence >= 0),
  stream TEXT NOT NULL,
  state TEXT NOT NULL,
  at ${int64} NOT NULL,
  PRIMARY KEY (name, sequence)
)${withoutRowid}`
  ]
}

/** The table's name checks, DDL and migrations. */
export const table = SqlTable.make({
  what: "snapshot table",
  defaultTable,
  maxLength: maxTable,
  lock: "herald_replay_snapshots",
  migration: "1_create_snapshots",
  span: "SnapshotSql.migrate",
  ddl
})

/** Checks a table name (`SqlName.parse`), at most {@link table}'s length. */
export const parse = table.parse
