/**
 * The snapshot table's name (validated and quoted) and its DDL for each
 * dialect, for `SnapshotSql`.
 *
 * @since 0.1.0
 * @internal
 */
import { SqlName } from "@herald/transport"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as ReplayError from "../ReplayError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** The default table. */
export const defaultTable = "herald_replay_snapshots"

/** PostgreSQL's 63 characters, minus the longest suffix (`_migrations`, of the default migrations table). */
const maxTable = 52

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
 * part a plain SQL identifier, the table at most 52 characters.
 */
export const parse = (
  input: string | undefined,
  options?: { readonly what?: string; readonly maxLength?: number }
): Result.Result<Table, ReplayError.ReplayError> =>
  Result.mapBoth(
    SqlName.parse(input ?? defaultTable, {
      what: options?.what ?? "snapshot table",
      maxLength: options?.maxLength ?? maxTable
    }),
    {
      onFailure: ReplayError.invalid,
      onSuccess: (name) => ({ qualified: name.qualified, schema: name.schema, name: name.name, quoted: name.quote() })
    }
  )

/** The dialect of a client, when the store supports it. */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<Dialect, ReplayError.ReplayError> =>
  Result.mapError(SqlName.dialect(sql), (dialect) => ReplayError.make(new ReplayError.UnsupportedDialect({ dialect })))

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
