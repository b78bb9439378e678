/**
 * The checkpoint table's name (validated and quoted), its DDL and its
 * statements for each dialect, shared by `CheckpointSql` and
 * `CheckpointMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import type { Dialect, Table } from "./sqlTable.ts"
import * as SqlTable from "./sqlTable.ts"

export type { Dialect, Table } from "./sqlTable.ts"
export { dialectOf } from "./sqlTable.ts"

/** The default name of the table. */
export const defaultTable = "herald_projection_checkpoints"

/** PostgreSQL's 63 characters, minus the longest suffix (`_migrations`, of the default migrations table). */
const maxName = 52

/** The DDL: the table, created when missing. */
export const ddl = (dialect: Dialect, table: Table): ReadonlyArray<string> => {
  const int64 = dialect === "pg" ? "BIGINT" : "INTEGER"
  return [
    `CREATE TABLE IF NOT EXISTS ${table.quoted} (
  projection TEXT NOT NULL PRIMARY KEY,
  stream TEXT NOT NULL,
  position ${int64} NOT NULL CHECK (position >= 0),
  rebuilding INTEGER NOT NULL CHECK (rebuilding IN (0, 1)),
  updated_at ${int64} NOT NULL
)`
  ]
}

/** The table's name checks, DDL and migrations. */
export const table = SqlTable.make({
  what: "checkpoint table",
  defaultTable,
  maxLength: maxName,
  lock: "herald_checkpoints",
  migration: "1_create_checkpoints",
  span: "CheckpointMigrations.migrate",
  ddl
})

/** Checks a table name (`SqlName.parse`), at most {@link table}'s length. */
export const parse = table.parse

const columns = "projection, stream, position, rebuilding, updated_at"

/** A row as the database returns it (PostgreSQL returns BIGINT as a string). */
export interface Row {
  readonly projection: string
  readonly stream: string
  readonly position: number | string | bigint
  readonly rebuilding: number | string | bigint | boolean
  readonly updated_at: number | string | bigint
}

/** The statements on a table, as text with the dialect's placeholders. */
export interface Statements {
  /** `$1` projection. */
  readonly select: string
  readonly selectAll: string
  /** `$1` projection, `$2` stream, `$3` position, `$4` rebuilding, `$5` updated_at: one row when it inserted. */
  readonly insert: string
  /**
   * `$1` position, `$2` rebuilding, `$3` updated_at, `$4` projection, `$5`
   * stream, `$6` expected position: one row when it updated.
   */
  readonly advance: string
  /** `$1` projection: one row when it deleted. */
  readonly delete: string
}

export const statements = (dialect: Dialect, table: Table): Statements => {
  const t = table.quoted
  const p = dialect === "pg" ? (i: number) => `$${i}` : () => "?"
  return {
    select: `SELECT ${columns} FROM ${t} WHERE projection = ${p(1)}`,
    selectAll: `SELECT ${columns} FROM ${t} ORDER BY projection`,
    insert: `INSERT INTO ${t} (${columns}) VALUES (${[1, 2, 3, 4, 5].map(p).join(", ")}) ` +
      `ON CONFLICT (projection) DO NOTHING RETURNING 1 AS inserted`,
    advance: `UPDATE ${t} SET position = ${p(1)}, rebuilding = ${p(2)}, updated_at = ${p(3)} ` +
      `WHERE projection = ${p(4)} AND stream = ${p(5)} AND position = ${p(6)} RETURNING 1 AS updated`,
    delete: `DELETE FROM ${t} WHERE projection = ${p(1)} RETURNING 1 AS deleted`
  }
}
