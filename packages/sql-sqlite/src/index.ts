/**
 * `@herald/sql-sqlite`: an `effect/sql` `SqlClient` for SQLite on Node's
 * built-in `node:sqlite`, for effect 4.1.
 *
 * @since 0.1.0
 */

/**
 * The client, its layers and its settings.
 *
 * @since 0.1.0
 */
export * as SqliteClient from "./SqliteClient.ts"
