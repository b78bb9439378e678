/**
 * The saga tables, for PostgreSQL and SQLite.
 *
 * Three ways to create them, all idempotent (`CREATE ... IF NOT EXISTS`):
 *
 * - `migrate(options)` runs `effect/sql`'s `Migrator` with the saga store's
 *   own migrations table (`<prefix>_migrations` by default), so it never
 *   mixes with the application's migration ids. `layer(options)` does it
 *   when the layer is built; `SagaSql.layer` does it at start unless
 *   `migrate: false`.
 * - `migration(options)` is the DDL as one effect, to add to the
 *   application's own `Migrator` record
 *   (`Migrator.fromRecord({ ..., "8_sagas": SagaMigrations.migration() })`).
 * - `statements(dialect, options)` is the DDL as text, for other migration
 *   tools.
 *
 * The tables (prefix `herald_saga` by default; any identifier, optionally
 * `schema.prefix`):
 *
 * | table | columns | keys |
 * |---|---|---|
 * | `<prefix>_instances` | `saga`, `id`, `status`, `state` (JSON text), `version`, `created_at`, `updated_at`, `failure` | primary key `(saga, id)`; index `(saga, status, updated_at)` |
 * | `<prefix>_transitions` | `saga`, `message_id`, `id`, `version`, `trigger_type`, `trigger_subject`, `trigger_stream`, `trigger_sequence`, `status`, `outgoing`, `scheduled`, `cancelled` (JSON text), `at` | primary key `(saga, message_id)`; index `(saga, id, version)` |
 * | `<prefix>_timeouts` | `token`, `saga`, `id`, `name`, `due_at`, `headers` (JSON text), `body` (`BYTEA` / `BLOB`) | primary key `token`; unique `(saga, id, name)`; index `(due_at)` |
 *
 * A transition row is both the instance's history entry and the saga's
 * record of the trigger (a message id appears once per saga). Times are
 * Unix epoch milliseconds (`BIGINT` / `INTEGER`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as Tables from "./internal/sqlTables.ts"
import * as SagaError from "./SagaError.ts"

/**
 * Options of the migrations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The tables' prefix, `prefix` or `schema.prefix` (default `herald_saga`). */
  readonly prefix?: string | undefined
  /** The `Migrator`'s table for `migrate` (default `<prefix>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/**
 * The SQL dialects the saga store supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = Tables.Dialect

/**
 * The default prefix of the tables.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix: string = Tables.defaultPrefix

/**
 * The DDL for a dialect, one statement per element. Fails with
 * `InvalidConfig` when the prefix is not an identifier.
 *
 * @since 0.1.0
 * @category ddl
 */
export const statements = (
  dialect: Dialect,
  options?: Options
): Result.Result<ReadonlyArray<string>, SagaError.SagaError> =>
  Result.map(Tables.parse(options?.prefix), (tables) => Tables.ddl(dialect, tables))

/**
 * The dialect of a client: `pg` or `sqlite`, otherwise `UnsupportedDialect`.
 *
 * @since 0.1.0
 * @category ddl
 */
export const dialectOf: (sql: SqlClient.SqlClient) => Result.Result<Dialect, SagaError.SagaError> = Tables.dialectOf

/**
 * The DDL as one effect on the `SqlClient` of the context, in one
 * transaction: idempotent, for an application's own `Migrator`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = (options?: Options): Effect.Effect<void, SagaError.SagaError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* Effect.fromResult(dialectOf(sql))
    const tables = yield* Effect.fromResult(Tables.parse(options?.prefix))
    yield* sql.withTransaction(
      Effect.forEach(Tables.ddl(dialect, tables), (statement) => sql.unsafe(statement).raw, { discard: true })
    ).pipe(Effect.mapError((e) => SagaError.store(`migrate ${tables.qualified}`, e)))
  })

/**
 * Runs the saga migrations with `effect/sql`'s `Migrator`, recording them
 * in the store's own migrations table; answers the migrations it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = Effect.fn("SagaMigrations.migrate")(function*(options?: Options) {
  const tables = yield* Effect.fromResult(Tables.parse(options?.prefix))
  const migrationsTable = options?.migrationsTable ?? `${tables.qualified}_migrations`
  const checked = yield* Effect.fromResult(Tables.parse(migrationsTable))
  const run = Migrator.make({})({
    loader: Migrator.fromRecord({ "1_create_saga": migration({ prefix: tables.qualified }) }),
    table: checked.qualified
  })
  return yield* Effect.mapError(run, (error) =>
    // A failure of the DDL itself is already a `SagaError`, wrapped by the `Migrator`.
    error._tag === "MigrationError" && SagaError.isSagaError(error.cause)
      ? error.cause
      : SagaError.store(`migrate ${tables.qualified}`, error))
})

/**
 * A layer that runs `migrate` when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, SagaError.SagaError, SqlClient.SqlClient> =>
  Layer.effectDiscard(migrate(options))
