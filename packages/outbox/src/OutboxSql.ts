/**
 * The SQL `OutboxStore`: PostgreSQL (`@effect/sql-pg`) and SQLite
 * (`@herald/sql-sqlite`), through `effect/sql`'s `SqlClient` only. The
 * driver layer is the application's choice.
 *
 * ```ts
 * const OutboxLive = Outbox.layer.pipe(
 *   Layer.provideMerge(OutboxSql.layer()),      // the store, on the SqlClient
 *   Layer.provide(OutboxMigrations.layer()),    // creates the table
 *   Layer.provideMerge(PgClient.layer({ url })) // or SqliteClient.layer({ filename })
 * )
 * ```
 *
 * - Writes use the caller's transaction: `Outbox.publish` inside
 *   `sql.withTransaction` inserts on the transaction's connection, so the
 *   message commits or rolls back with the business change.
 * - PostgreSQL: the insert and a `pg_notify(<channel>, '')` go in one
 *   statement, so relays listening on the channel (`LISTEN`, through the
 *   `PgClient`'s `listen`) wake when the transaction commits, and never for a
 *   rollback. Relays claim with `FOR UPDATE SKIP LOCKED` in one statement.
 * - SQLite: one writer; a claim is one `UPDATE ... RETURNING` statement.
 *   Relays in the same process wake after a commit (`SqlClient.afterCommit`);
 *   others poll.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Config from "./internal/config.ts"
import * as SqlStore from "./internal/sqlStore.ts"
import type * as OutboxError from "./OutboxError.ts"
import * as OutboxStore from "./OutboxStore.ts"

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The outbox table (default `herald_outbox`), as created by `OutboxMigrations`. */
  readonly table?: string | undefined
  /** PostgreSQL: the LISTEN/NOTIFY channel (default: the table name, `.` replaced by `_`). */
  readonly channel?: string | undefined
  /** PostgreSQL: `pg_notify` with every insert (default `true`). */
  readonly notify?: boolean | undefined
  /** PostgreSQL: relays `LISTEN` on the channel when the client can (default `true`). */
  readonly listen?: boolean | undefined
}

const resolve = (options: Options | undefined): Result.Result<SqlStore.Resolved, OutboxError.OutboxError> =>
  Result.flatMap(Config.validateTable(options?.table ?? Config.defaultTable), (parts) =>
    Result.map(
      Config.validateChannel(options?.channel ?? parts.join("_")),
      (channel): SqlStore.Resolved => ({
        table: parts.join("."),
        channel,
        notify: options?.notify ?? true,
        listen: options?.listen ?? true
      })
    ))

/**
 * Builds the store on the `SqlClient` of the context. Fails with
 * `InvalidConfig` for a table or channel that is not an identifier, or a
 * dialect other than PostgreSQL and SQLite.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<OutboxStore.OutboxStore["Service"], OutboxError.OutboxError, SqlClient.SqlClient> =>
  Effect.flatMap(Effect.fromResult(resolve(options)), SqlStore.make)

/**
 * The store as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<OutboxStore.OutboxStore, OutboxError.OutboxError, SqlClient.SqlClient> =>
  Layer.effect(OutboxStore.OutboxStore, make(options))
