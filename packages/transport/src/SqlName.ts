/**
 * Names of the SQL tables Herald's stores create (inbox, saga, replay):
 * checked and quoted one way, and the dialect of a `SqlClient`.
 *
 * A name is `name` or `schema.name`; each part a plain SQL identifier
 * (letters, digits and `_`, not starting with a digit), the schema at most
 * 63 characters (PostgreSQL's limit) and the name at most what its store
 * allows (63 minus the longest suffix it appends for its tables and
 * indexes). Names are quoted, so they keep their case.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"

/**
 * A checked name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Name {
  /** The schema (PostgreSQL) or attached database (SQLite), if given. */
  readonly schema: string | undefined
  readonly name: string
  /** As given: `name` or `schema.name`. */
  readonly qualified: string
  /** The name with `suffix` appended, quoted and qualified: `"schema"."name_suffix"`. */
  readonly quote: (suffix?: string) => string
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * The longest schema name.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxSchema = 63

/**
 * Checks a name. `what` names it in the message (`"table"`, `"table
 * prefix"`); `maxLength` bounds its last part. The failure is one line
 * saying what is wrong, for the store's own `InvalidConfig`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (
  input: unknown,
  options: { readonly what: string; readonly maxLength: number }
): Result.Result<Name, string> => {
  const { maxLength, what } = options
  if (typeof input !== "string") return Result.fail(`${what} must be a string, got ${input === null ? "null" : typeof input}`)
  const parts = input.split(".")
  if (parts.length > 2) return Result.fail(`${what} ${JSON.stringify(input)}: at most one '.' (schema.name)`)
  const name = parts[parts.length - 1]!
  const schema = parts.length === 2 ? parts[0] : undefined
  for (const [label, part, max] of [[what, name, maxLength], ["schema", schema, maxSchema]] as const) {
    if (part === undefined) continue
    if (!identifier.test(part)) {
      return Result.fail(
        `${label} ${
          JSON.stringify(part)
        } is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
      )
    }
    if (part.length > max) return Result.fail(`${label} ${JSON.stringify(part)} is longer than ${max} characters`)
  }
  return Result.succeed({
    schema,
    name,
    qualified: input,
    quote: (suffix = "") => schema === undefined ? `"${name}${suffix}"` : `"${schema}"."${name}${suffix}"`
  })
}

/**
 * The dialects Herald's SQL stores speak.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "sqlite"

/**
 * The dialect of a client; the failure is the name of a dialect the stores
 * do not speak (`mysql`, `mssql`, `clickhouse`), for the store's own
 * `UnsupportedDialect`.
 *
 * @since 0.1.0
 * @category dialects
 */
export const dialect = (sql: SqlClient.SqlClient): Result.Result<Dialect, string> =>
  sql.onDialectOrElse({
    pg: () => Result.succeed("pg" as const),
    sqlite: () => Result.succeed("sqlite" as const),
    orElse: () =>
      Result.fail(sql.onDialect({
        pg: () => "pg",
        sqlite: () => "sqlite",
        mysql: () => "mysql",
        mssql: () => "mssql",
        clickhouse: () => "clickhouse"
      }))
  })
