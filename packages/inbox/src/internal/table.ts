/**
 * The inbox table's name: validated, quoted, and the statements on it for
 * each dialect.
 *
 * @internal
 */
import { SqlName } from "@herald/transport"
import * as Result from "effect/Result"
import * as InboxError from "../InboxError.ts"

/** The dialects the SQL store speaks. */
export type Dialect = "pg" | "sqlite"

/** A validated table name. */
export interface Table {
  /** The schema (PostgreSQL) or attached database (SQLite), if given. */
  readonly schema: string | undefined
  readonly name: string
  /** As given: `name` or `schema.name`. */
  readonly qualified: string
  /** Quoted for SQL: `"name"` or `"schema"."name"`. */
  readonly quoted: string
  /** The name of its `processed_at` index (unqualified). */
  readonly index: string
}

export const defaultTable = "herald_inbox"

const maxName = 48

/**
 * Checks a table name: `name` or `schema.name` (`SqlName.parse`), the name
 * at most 48 characters (its index name adds 13).
 */
export const parse = (input: string | undefined): Result.Result<Table, InboxError.InboxError> =>
  Result.mapBoth(SqlName.parse(input ?? defaultTable, { what: "table name", maxLength: maxName }), {
    onFailure: InboxError.invalid,
    onSuccess: (name) => ({
      schema: name.schema,
      name: name.name,
      qualified: name.qualified,
      quoted: name.quote(),
      index: `${name.name}_processed_at`
    })
  })

const columns = "consumer, message_id, stream, stream_sequence, subject, message_type, delivery_count, processed_at"

/** The statements of a table in a dialect, as text with the dialect's placeholders. */
export interface Statements {
  readonly dialect: Dialect
  readonly table: Table
  /** The migration: create the table and its index when missing. */
  readonly ddl: ReadonlyArray<string>
  /** Records an entry unless it exists; returns one row when it inserted. 8 parameters, in `columns` order. */
  readonly insert: string
  /** Records `n` entries unless they exist (8 parameters each); returns `consumer, message_id` of each inserted one. */
  readonly insertMany: (n: number) => string
  readonly select: string
  readonly delete: string
  /** Deletes up to `$2` records processed before `$1`; returns one row per deleted record. */
  readonly deleteBefore: string
}

export const statements = (dialect: Dialect, table: Table): Statements => {
  const t = table.quoted
  const p = dialect === "pg" ? (i: number) => `$${i}` : () => "?"
  const ddl = dialect === "pg"
    ? [
      `CREATE TABLE IF NOT EXISTS ${t} (
  consumer TEXT NOT NULL,
  message_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  stream_sequence BIGINT NOT NULL,
  subject TEXT NOT NULL,
  message_type TEXT NOT NULL,
  delivery_count INTEGER NOT NULL,
  processed_at BIGINT NOT NULL,
  PRIMARY KEY (consumer, message_id)
)`,
      `CREATE INDEX IF NOT EXISTS "${table.index}" ON ${t} (processed_at)`
    ]
    : [
      `CREATE TABLE IF NOT EXISTS ${t} (
  consumer TEXT NOT NULL,
  message_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  stream_sequence INTEGER NOT NULL,
  subject TEXT NOT NULL,
  message_type TEXT NOT NULL,
  delivery_count INTEGER NOT NULL,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, message_id)
) WITHOUT ROWID`,
      // SQLite qualifies the index, not the table it is on.
      `CREATE INDEX IF NOT EXISTS ${
        table.schema === undefined ? `"${table.index}"` : `"${table.schema}"."${table.index}"`
      } ON "${table.name}" (processed_at)`
    ]
  const many = new Map<number, string>()
  const insertMany = (n: number): string => {
    const cached = many.get(n)
    if (cached !== undefined) return cached
    const rows = Array.from({ length: n }, (_, r) => `(${[1, 2, 3, 4, 5, 6, 7, 8].map((i) => p(r * 8 + i)).join(", ")})`)
    const text = `INSERT INTO ${t} (${columns}) VALUES ${rows.join(", ")} ` +
      `ON CONFLICT (consumer, message_id) DO NOTHING RETURNING consumer, message_id`
    many.set(n, text)
    return text
  }
  return {
    dialect,
    table,
    ddl,
    insertMany,
    insert: `INSERT INTO ${t} (${columns}) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8].map(p).join(", ")}) ` +
      `ON CONFLICT (consumer, message_id) DO NOTHING RETURNING 1 AS inserted`,
    select: `SELECT ${columns} FROM ${t} WHERE consumer = ${p(1)} AND message_id = ${p(2)}`,
    delete: `DELETE FROM ${t} WHERE consumer = ${p(1)} AND message_id = ${p(2)} RETURNING 1 AS deleted`,
    deleteBefore: `DELETE FROM ${t} WHERE (consumer, message_id) IN ` +
      `(SELECT consumer, message_id FROM ${t} WHERE processed_at < ${p(1)} LIMIT ${p(2)}) RETURNING 1 AS deleted`
  }
}

/** A row as the database returns it (PostgreSQL returns BIGINT as a string). */
export interface Row {
  readonly consumer: string
  readonly message_id: string
  readonly stream: string
  readonly stream_sequence: number | string | bigint
  readonly subject: string
  readonly message_type: string
  readonly delivery_count: number | string | bigint
  readonly processed_at: number | string | bigint
}

export const columnList = columns
