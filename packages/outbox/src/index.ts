/**
 * @herald/outbox: the transactional outbox. Write messages in the business
 * transaction, relay them to the `EventLog` after the commit.
 *
 * @since 0.1.0
 */

/**
 * `publish` / `publishAll` in the caller's transaction, `status`, `failures`, `requeue`.
 *
 * @since 0.1.0
 */
export * as Outbox from "./Outbox.ts"

/**
 * The relay: claims with leases, appends with `Nats-Msg-Id` = message id,
 * per-key order, retries, cleanup.
 *
 * @since 0.1.0
 */
export * as OutboxRelay from "./OutboxRelay.ts"

/**
 * The storage contract shared by the SQL and memory stores.
 *
 * @since 0.1.0
 */
export * as OutboxStore from "./OutboxStore.ts"

/**
 * The SQL store: PostgreSQL and SQLite through `effect/sql`'s `SqlClient`.
 *
 * @since 0.1.0
 */
export * as OutboxSql from "./OutboxSql.ts"

/**
 * The outbox table for PostgreSQL and SQLite, with `effect/sql`'s `Migrator`.
 *
 * @since 0.1.0
 */
export * as OutboxMigrations from "./OutboxMigrations.ts"

/**
 * The in-memory store and its unit of work, for tests.
 *
 * @since 0.1.0
 */
export * as OutboxMemory from "./OutboxMemory.ts"

/**
 * The one error of the package.
 *
 * @since 0.1.0
 */
export * as OutboxError from "./OutboxError.ts"
