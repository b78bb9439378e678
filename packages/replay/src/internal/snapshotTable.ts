/**
 * The snapshot table's name (validated and quoted) and its DDL for each
 * dialect, for `SnapshotSql`.
 *
 * @since 0.1.0
 * @internal
 */
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as ReplayError from "../ReplayError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** The default table. */
export const defaultTable = "herald_replay_snapshots"

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/
/** PostgreSQL's 63 characters, minus the longest suffix (`_migrations`, of the default migrations table). */
const maxTable = 52
const maxSchema = 63

/** A validated table name. */
export interface Table {
  /** As given: `table` or `schema.table`. */
  readonly qualified: string
  readonly schema: string | undefined
  readonly name: string
  /** Quoted for SQL (`"schema"."table"`). */
  readonly quoted: string
}

/**
 * Checks a table name: `table` or `schema.table`, each part a plain SQL
 * identifier (letters, digits and `_`, not starting with a digit), the
 * table at most 52 characters and the schema at most 63.
 */
export const parse = (input: string | undefined): Result.Result<Table, ReplayError.ReplayError> => {
  const qualified = input ?? defaultTable
  if (typeof qualified !== "string") {
    return Result.fail(ReplayError.invalid(`snapshot table must be a string, got ${typeof qualified}`))
  }
  const parts = qualified.split(".")
  if (parts.length > 2) {
    return Result.fail(ReplayError.invalid(`snapshot table ${JSON.stringify(qualified)}: at most one '.' (schema.table)`))
  }
  const name = parts[parts.length - 1]!
  const schema = parts.length === 2 ? parts[0] : undefined
  for (const [what, part, max] of [["snapshot table", name, maxTable], ["schema", schema, maxSchema]] as const) {
    if (part === undefined) continue
    if (!identifier.test(part)) {
      return Result.fail(
        ReplayError.invalid(
          `${what} ${JSON.stringify(part)} is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
        )
      )
    }
    if (part.length > max) {
      return Result.fail(ReplayError.invalid(`${what} ${JSON.stringify(part)} is longer than ${max} characters`))
    }
  }
  return Result.succeed({
    qualified,
    schema,
    name,
    quoted: schema === undefined ? `"${name}"` : `"${schema}"."${name}"`
  })
}

/** The dialect of a client, when the store supports it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, ReplayError.ReplayError> =>
  sql.onDialectOrElse({
    pg: () => Result.succeed("pg" as const),
    sqlite: () => Result.succeed("sqlite" as const),
    orElse: () =>
      Result.fail(
        ReplayError.make(
          new ReplayError.UnsupportedDialect({
            dialect: sql.onDialect({
              pg: () => "pg",
              sqlite: () => "sqlite",
              mysql: () => "mysql",
              mssql: () => "mssql",
              clickhouse: () => "clickhouse"
            })
          })
        )
      )
  })

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
