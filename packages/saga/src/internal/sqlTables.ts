/**
 * The saga tables' names (validated and quoted) and their DDL for each
 * dialect, shared by `SagaSql` and `SagaMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as SagaError from "../SagaError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** The default prefix of the tables. */
export const defaultPrefix = "herald_saga"

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/
/** PostgreSQL's 63 characters, minus the longest suffix (`_transitions_instance_idx`). */
const maxPrefix = 38
const maxSchema = 63

/** A validated table prefix and the names derived from it. */
export interface Tables {
  /** As given: `prefix` or `schema.prefix`. */
  readonly qualified: string
  readonly schema: string | undefined
  readonly prefix: string
  /** Quoted for SQL (`"schema"."prefix_instances"`). */
  readonly instances: string
  readonly transitions: string
  readonly timeouts: string
}

/**
 * Checks a prefix: `prefix` or `schema.prefix`, each part a plain SQL
 * identifier (letters, digits and `_`, not starting with a digit), the
 * prefix at most 38 characters (the longest name built on it adds 25) and
 * the schema at most 63.
 */
export const parse = (input: string | undefined): Result.Result<Tables, SagaError.SagaError> => {
  const qualified = input ?? defaultPrefix
  if (typeof qualified !== "string") {
    return Result.fail(SagaError.invalid(`table prefix must be a string, got ${typeof qualified}`))
  }
  const parts = qualified.split(".")
  if (parts.length > 2) {
    return Result.fail(SagaError.invalid(`table prefix ${JSON.stringify(qualified)}: at most one '.' (schema.prefix)`))
  }
  const prefix = parts[parts.length - 1]!
  const schema = parts.length === 2 ? parts[0] : undefined
  for (const [what, part, max] of [["table prefix", prefix, maxPrefix], ["schema", schema, maxSchema]] as const) {
    if (part === undefined) continue
    if (!identifier.test(part)) {
      return Result.fail(
        SagaError.invalid(
          `${what} ${JSON.stringify(part)} is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
        )
      )
    }
    if (part.length > max) {
      return Result.fail(SagaError.invalid(`${what} ${JSON.stringify(part)} is longer than ${max} characters`))
    }
  }
  const quote = (name: string) => schema === undefined ? `"${name}"` : `"${schema}"."${name}"`
  return Result.succeed({
    qualified,
    schema,
    prefix,
    instances: quote(`${prefix}_instances`),
    transitions: quote(`${prefix}_transitions`),
    timeouts: quote(`${prefix}_timeouts`)
  })
}

/** The dialect of a client, when the store supports it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, SagaError.SagaError> =>
  sql.onDialectOrElse({
    pg: () => Result.succeed("pg" as const),
    sqlite: () => Result.succeed("sqlite" as const),
    orElse: () =>
      Result.fail(
        SagaError.make(
          new SagaError.UnsupportedDialect({
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

/** The DDL: the three tables and their indexes, created when missing. */
export const ddl = (dialect: Dialect, tables: Tables): ReadonlyArray<string> => {
  const int64 = dialect === "pg" ? "BIGINT" : "INTEGER"
  const bytes = dialect === "pg" ? "BYTEA" : "BLOB"
  const withoutRowid = dialect === "pg" ? "" : " WITHOUT ROWID"
  // PostgreSQL puts an index in its table's schema and wants the bare name;
  // SQLite qualifies the index name and wants the bare table name.
  const index = (name: string, table: string, columns: string) =>
    dialect === "pg"
      ? `CREATE INDEX IF NOT EXISTS "${tables.prefix}_${name}" ON ${tables.schema === undefined ? "" : `"${tables.schema}".`}"${tables.prefix}_${table}" ${columns}`
      : `CREATE INDEX IF NOT EXISTS ${
        tables.schema === undefined ? "" : `"${tables.schema}".`
      }"${tables.prefix}_${name}" ON "${tables.prefix}_${table}" ${columns}`
  return [
    `CREATE TABLE IF NOT EXISTS ${tables.instances} (
  saga TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'compensating', 'compensated', 'compensation-failed')),
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at ${int64} NOT NULL,
  updated_at ${int64} NOT NULL,
  failure TEXT,
  PRIMARY KEY (saga, id)
)${withoutRowid}`,
    index("instances_status_idx", "instances", "(saga, status, updated_at)"),
    `CREATE TABLE IF NOT EXISTS ${tables.transitions} (
  saga TEXT NOT NULL,
  message_id TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  trigger_type TEXT NOT NULL,
  trigger_subject TEXT NOT NULL,
  trigger_stream TEXT,
  trigger_sequence ${int64},
  status TEXT NOT NULL,
  outgoing TEXT NOT NULL,
  scheduled TEXT NOT NULL,
  cancelled TEXT NOT NULL,
  at ${int64} NOT NULL,
  PRIMARY KEY (saga, message_id)
)${withoutRowid}`,
    index("transitions_instance_idx", "transitions", "(saga, id, version)"),
    `CREATE TABLE IF NOT EXISTS ${tables.timeouts} (
  token TEXT NOT NULL PRIMARY KEY,
  saga TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  due_at ${int64} NOT NULL,
  headers TEXT NOT NULL,
  body ${bytes} NOT NULL,
  UNIQUE (saga, id, name)
)`,
    index("timeouts_due_idx", "timeouts", "(due_at)")
  ]
}
