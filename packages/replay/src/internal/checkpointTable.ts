/**
 * The checkpoint table's name (validated and quoted), its DDL and its
 * statements for each dialect, shared by `CheckpointSql` and
 * `CheckpointMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as ReplayError from "../ReplayError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** The default name of the table. */
export const defaultTable = "herald_projection_checkpoints"

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/
/** PostgreSQL's 63 characters, minus the longest suffix (`_migrations`). */
const maxName = 52
const maxSchema = 63

/** A validated table name. */
export interface Table {
  /** As given: `name` or `schema.name`. */
  readonly qualified: string
  readonly schema: string | undefined
  readonly name: string
  /** Quoted for SQL: `"name"` or `"schema"."name"`. */
  readonly quoted: string
}

/**
 * Checks a table name: `name` or `schema.name`, each part a plain SQL
 * identifier (letters, digits and `_`, not starting with a digit), the name
 * at most 52 characters (its migrations table adds 11) and the schema at
 * most 63.
 */
export const parse = (
  input: string | undefined,
  what = "table",
  max = maxName
): Result.Result<Table, ReplayError.ReplayError> => {
  const qualified = input ?? defaultTable
  if (typeof qualified !== "string") {
    return Result.fail(ReplayError.invalid(`${what} must be a string, got ${typeof qualified}`))
  }
  const parts = qualified.split(".")
  if (parts.length > 2) {
    return Result.fail(ReplayError.invalid(`${what} ${JSON.stringify(qualified)}: at most one '.' (schema.name)`))
  }
  const name = parts[parts.length - 1]!
  const schema = parts.length === 2 ? parts[0] : undefined
  for (const [label, part, limit] of [[`${what} name`, name, max], ["schema", schema, maxSchema]] as const) {
    if (part === undefined) continue
    if (!identifier.test(part)) {
      return Result.fail(
        ReplayError.invalid(
          `${label} ${JSON.stringify(part)} is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
        )
      )
    }
    if (part.length > limit) {
      return Result.fail(ReplayError.invalid(`${label} ${JSON.stringify(part)} is longer than ${limit} characters`))
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
