/**
 * The correlation index table, for PostgreSQL and SQLite.
 *
 * Two migrations: `1_create_correlation_index` creates the table,
 * `2_add_kind` adds its nullable `kind` column (rows written before it have
 * none: `lookup` answers `kind: null` for them).
 *
 * Three ways to create it:
 *
 * - `migrate(options)` runs `effect/sql`'s `Migrator` with the index's own
 *   migrations table (`<table>_migrations` by default), so it never mixes
 *   with the application's migration ids. `layer(options)` does it when the
 *   layer is built; `CorrelationIndexSql.layer` does it at start unless
 *   `migrate: false`.
 * - `migration(options)` is every migration as one idempotent effect (a
 *   table or column already there is left alone), to add to the
 *   application's own `Migrator` record
 *   (`Migrator.fromRecord({ ..., "9_correlation": CorrelationIndexMigrations.migration() })`).
 * - `statements(dialect, options)` is the DDL as text, for other migration
 *   tools: `CREATE ... IF NOT EXISTS`, then `ALTER TABLE ... ADD COLUMN`
 *   for each later column (`IF NOT EXISTS` on PostgreSQL; SQLite has no
 *   such clause, so run that statement once).
 *
 * The table (`herald_correlation_index` by default; any identifier,
 * optionally `schema.table`):
 *
 * | column | type (pg / sqlite) | |
 * |---|---|---|
 * | `stream` | `TEXT` | primary key `(stream, sequence)` |
 * | `sequence` | `BIGINT` / `INTEGER` | the stream sequence |
 * | `correlation_id` | `TEXT` | indexed (`<table>_correlation_idx`) |
 * | `message_id`, `causation_id`, `type`, `subject` | `TEXT` | |
 * | `kind` | `TEXT`, nullable | the envelope's kind (`2_add_kind`); `NULL` when not known |
 * | `timestamp` | `BIGINT` / `INTEGER` | when the message was stored, Unix epoch milliseconds |
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Tables from "./internal/correlationTables.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * Options of the migrations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table, `table` or `schema.table` (default `herald_correlation_index`). */
  readonly table?: string | undefined
  /** The `Migrator`'s table for `migrate` (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/**
 * The SQL dialects the index supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = Tables.Dialect

/**
 * The default table.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable: string = Tables.defaultTable

/**
 * The DDL for a dialect, one statement per element. Fails with
 * `InvalidConfig` when the table is not an identifier.
 *
 * @since 0.1.0
 * @category ddl
 */
export const statements = (
  dialect: Dialect,
  options?: Options
): Result.Result<ReadonlyArray<string>, ReplayError.ReplayError> => Tables.table.statements(dialect, options)

/**
 * The dialect of a client: `pg` or `sqlite`, otherwise `UnsupportedDialect`.
 *
 * @since 0.1.0
 * @category ddl
 */
export const dialectOf: (sql: SqlClient.SqlClient) => Result.Result<Dialect, ReplayError.ReplayError> =
  Tables.dialectOf

/**
 * Every migration as one effect on the `SqlClient` of the context, in one
 * transaction: idempotent, for an application's own `Migrator`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = (options?: Options): Effect.Effect<void, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Tables.table.migration(options)

/**
 * Runs the index's migrations with `effect/sql`'s `Migrator`, recording
 * them in its own migrations table; answers the migrations it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (options?: Options): Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Tables.table.migrate(options)

/**
 * A layer that runs `migrate` when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Tables.table.layer(options)
