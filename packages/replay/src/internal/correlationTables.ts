/**
 * The correlation index table's name (validated and quoted) and its DDL for
 * each dialect, shared by `CorrelationIndexSql` and
 * `CorrelationIndexMigrations`.
 *
 * @since 0.1.0
 * @internal
 */
import { SqlName } from "@herald/transport"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as ReplayError from "../ReplayError.ts"

/** The dialects the SQL index speaks. */
export type Dialect = "pg" | "sqlite"

/** The default table. */
export const defaultTable = "herald_correlation_index"

/** PostgreSQL's 63 characters, minus the longest suffix (`_correlation_idx`). */
const maxTable = 47

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
 * Checks a table name (`SqlName.parse`): `table` or `schema.table`, each
 * part a plain SQL identifier, the table at most 47 characters (the index
 * name adds 16; `maxLength` says otherwise) and the schema at most 63.
 */
export const parse = (
  input: string | undefined,
  /** 63 for a table that no index is named after (the migrations table). */
  maxLength: number = maxTable
): Result.Result<Table, ReplayError.ReplayError> =>
  Result.mapBoth(SqlName.parse(input ?? defaultTable, { what: "table", maxLength }), {
    onFailure: ReplayError.invalid,
    onSuccess: (name) => ({ qualified: name.qualified, schema: name.schema, name: name.name, quoted: name.quote() })
  })

/** The dialect of a client, when the index supports it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, ReplayError.ReplayError> =>
  Result.mapError(SqlName.dialect(sql), (dialect) => ReplayError.make(new ReplayError.UnsupportedDialect({ dialect })))

/** The DDL: the table and its index on the correlation id, created when missing. */
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
