/**
 * The projection checkpoint table, for PostgreSQL and SQLite.
 *
 * Three ways to create it, all idempotent (`CREATE TABLE IF NOT EXISTS`):
 *
 * - `migrate(options)` runs `effect/sql`'s `Migrator` with the store's own
 *   migrations table (`<table>_migrations` by default), so it never mixes
 *   with the application's migration ids. `layer(options)` does it when the
 *   layer is built; `CheckpointSql.layer` does it at start unless
 *   `migrate: false`.
 * - `migration(options)` is the DDL as one effect, to add to the
 *   application's own `Migrator` record
 *   (`Migrator.fromRecord({ ..., "9_checkpoints": CheckpointMigrations.migration() })`).
 * - `statements(dialect, options)` is the DDL as text, for other migration
 *   tools.
 *
 * The table (`herald_projection_checkpoints` by default; any identifier,
 * optionally `schema.name`):
 *
 * | column | type | |
 * |---|---|---|
 * | `projection` | `TEXT` | primary key: the projection's name |
 * | `stream` | `TEXT` | the stream it projects |
 * | `position` | `BIGINT` / `INTEGER` | the last sequence passed (0: none) |
 * | `rebuilding` | `INTEGER` | 1 while a rebuild has not reached the head |
 * | `updated_at` | `BIGINT` / `INTEGER` | Unix epoch milliseconds |
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Tables from "./internal/checkpointTable.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * Options of the migrations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table, `name` or `schema.name` (default `herald_projection_checkpoints`). */
  readonly table?: string | undefined
  /** The `Migrator`'s table for `migrate` (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/**
 * The SQL dialects the checkpoint store supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = Tables.Dialect

/**
 * The default name of the table.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable: string = Tables.defaultTable

/**
 * The DDL for a dialect, one statement per element. Fails with
 * `InvalidConfig` when the table name is not an identifier.
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
 * The DDL as one effect on the `SqlClient` of the context, in one
 * transaction: idempotent, for an application's own `Migrator`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = (options?: Options): Effect.Effect<void, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Tables.table.migration(options)

/**
 * Runs the checkpoint migrations with `effect/sql`'s `Migrator`, recording
 * them in the store's own migrations table; answers the migrations it ran.
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
