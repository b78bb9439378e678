/**
 * The saga tables' names (validated and quoted) and their DDL for each
 * dialect, shared by `SagaSql` and `SagaMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import { SqlName } from "@herald/transport"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as SagaError from "../SagaError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** The default prefix of the tables. */
export const defaultPrefix = "herald_saga"

/** PostgreSQL's 63 characters, minus the longest suffix (`_transitions_instance_idx`). */
const maxPrefix = 38

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
export const parse = (input: string | undefined): Result.Result<Tables, SagaError.SagaError> =>
  Result.mapBoth(SqlName.parse(input ?? defaultPrefix, { what: "table prefix", maxLength: maxPrefix }), {
    onFailure: SagaError.invalid,
    onSuccess: (name) => ({
      qualified: name.qualified,
      schema: name.schema,
      prefix: name.name,
      instances: name.quote("_instances"),
      transitions: name.quote("_transitions"),
      timeouts: name.quote("_timeouts")
    })
  })

/** The dialect of a client, when the store supports it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, SagaError.SagaError> =>
  Result.mapError(SqlName.dialect(sql), (dialect) => SagaError.make(new SagaError.UnsupportedDialect({ dialect })))

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
