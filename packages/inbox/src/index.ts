/**
 * @herald/inbox: a message's effects applied exactly once over JetStream's
 * at-least-once delivery.
 *
 * The NATS KV store is a separate entry point, `@herald/inbox/kv`, so that
 * applications without it do not load `@nats-io/kv`.
 *
 * @since 0.1.0
 */

/**
 * The middleware, the queries and retention.
 *
 * @since 0.1.0
 */
export * as Inbox from "./Inbox.ts"

/**
 * The error of the package, with its reasons.
 *
 * @since 0.1.0
 */
export * as InboxError from "./InboxError.ts"

/**
 * The store contract and its models.
 *
 * @since 0.1.0
 */
export * as InboxStore from "./InboxStore.ts"

/**
 * The SQL store (PostgreSQL, SQLite): record and effects in one transaction.
 *
 * @since 0.1.0
 */
export * as InboxSql from "./InboxSql.ts"

/**
 * The inbox table's migrations.
 *
 * @since 0.1.0
 */
export * as InboxMigrations from "./InboxMigrations.ts"

/**
 * The in-memory store.
 *
 * @since 0.1.0
 */
export * as InboxMemory from "./InboxMemory.ts"
