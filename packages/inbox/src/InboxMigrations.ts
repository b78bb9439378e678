/**
 * The inbox table, for PostgreSQL and SQLite.
 *
 * One table holds the records of every consumer, keyed by
 * `(consumer, message_id)`, with an index on `processed_at` for retention:
 *
 * ```sql
 * CREATE TABLE IF NOT EXISTS "herald_inbox" (
 *   consumer TEXT NOT NULL,          -- the consumer that processed the message
 *   message_id TEXT NOT NULL,        -- envelope.identity.messageId
 *   stream TEXT NOT NULL,            -- where it was delivered from
 *   stream_sequence BIGINT NOT NULL,
 *   subject TEXT NOT NULL,
 *   message_type TEXT NOT NULL,      -- envelope.type
 *   delivery_count INTEGER NOT NULL, -- the delivery that applied it
 *   processed_at BIGINT NOT NULL,    -- Unix epoch milliseconds (Effect's Clock)
 *   PRIMARY KEY (consumer, message_id)
 * )                                  -- SQLite: INTEGER columns, WITHOUT ROWID
 * CREATE INDEX IF NOT EXISTS "herald_inbox_processed_at" ON "herald_inbox" (processed_at)
 * ```
 *
 * The table name is configurable (`table`, `name` or `schema.name`, plain
 * identifiers only, checked before any SQL is built). Three ways to create
 * it:
 *
 * - `InboxSql.layer` runs `run` when it starts (unless `migrate: false`);
 * - `run({ table })` yourself, when you like; it is idempotent, and on
 *   PostgreSQL concurrent runs serialize on an advisory lock;
 * - `migrations({ id, table })` for `effect/sql`'s `Migrator` next to your
 *   own migrations, or `statements(dialect, { table })` as SQL text for any
 *   other migration tool.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { SqlName } from "@herald/transport"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as InboxError from "./InboxError.ts"
import * as Table from "./internal/table.ts"

/**
 * Options naming the table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `name` or `schema.name` (default `herald_inbox`). */
  readonly table?: string | undefined
}

/**
 * The default table name.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable: string = Table.defaultTable

/**
 * The statements that create the table and its index in a dialect, as SQL
 * text, for migration tools other than `effect/sql`'s. Fails with
 * `InvalidConfig` on a bad table name.
 *
 * @since 0.1.0
 * @category migrations
 */
export const statements = (
  dialect: "pg" | "sqlite",
  options?: Options
): Result.Result<ReadonlyArray<string>, InboxError.InboxError> =>
  Result.map(Table.parse(options?.table), (table) => Table.statements(dialect, table).ddl)

/**
 * The dialect of a client, when the store supports it.
 *
 * @since 0.1.0
 * @category migrations
 */
export const dialectOf = (sql: SqlClient.SqlClient): Result.Result<"pg" | "sqlite", InboxError.InboxError> =>
  Result.mapError(SqlName.dialect(sql), (dialect) => InboxError.make(new InboxError.UnsupportedDialect({ dialect })))

const apply = (
  sql: SqlClient.SqlClient,
  dialect: "pg" | "sqlite",
  table: Table.Table
): Effect.Effect<void, SqlError> => {
  const { ddl } = Table.statements(dialect, table)
  const create = Effect.forEach(ddl, (statement) => sql.unsafe(statement), { discard: true })
  return sql.withTransaction(
    dialect === "pg"
      ? Effect.andThen(sql`SELECT pg_advisory_xact_lock(hashtext(${`herald_inbox:${table.qualified}`}))`, create)
      : create
  )
}

/**
 * Creates the table and its index when they are missing, in one
 * transaction (on PostgreSQL under an advisory lock, so that services
 * starting together do not race). Idempotent.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = Effect.fn("InboxMigrations.run")(function*(options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const table = Table.parse(options?.table)
  if (Result.isFailure(table)) return yield* Effect.fail(table.failure)
  const dialect = dialectOf(sql)
  if (Result.isFailure(dialect)) return yield* Effect.fail(dialect.failure)
  yield* apply(sql, dialect.success, table.success).pipe(
    Effect.mapError((e) => InboxError.store(`migration of ${table.success.qualified}`, e))
  )
})

/**
 * The inbox migration for `effect/sql`'s `Migrator`, under the id you choose
 * (default 1) so that it fits among your own:
 *
 * ```ts
 * const migrate = Migrator.make({})({
 *   loader: Migrator.fromRecord({ ...myMigrations, ...InboxMigrations.migrations({ id: 7 }) })
 * })
 * ```
 *
 * The table name is checked when the migration runs.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations = (
  options?: Options & { readonly id?: number | undefined }
): Record<string, Effect.Effect<void, InboxError.InboxError, SqlClient.SqlClient>> => ({
  [`${options?.id ?? 1}_herald_inbox_${(options?.table ?? Table.defaultTable).replace(/\W/g, "_")}`]: run(options)
})
