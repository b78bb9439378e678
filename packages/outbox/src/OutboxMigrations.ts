/**
 * The outbox table, for PostgreSQL and SQLite.
 *
 * Three ways to create it, all idempotent (`CREATE ... IF NOT EXISTS`):
 *
 * - `migrate(options)` runs `effect/sql`'s `Migrator` with the outbox's own
 *   migrations table (`<table>_migrations` by default), so it never mixes
 *   with the application's migration ids. `layer(options)` does it when the
 *   layer is built.
 * - `migration(options)` is the DDL as one effect, to add to the
 *   application's own `Migrator` record
 *   (`Migrator.fromRecord({ ..., "7_outbox": OutboxMigrations.migration() })`).
 * - `statements(dialect, options)` is the DDL as text, for other migration
 *   tools.
 *
 * The table (`herald_outbox` by default; any identifier, optionally
 * `schema.table`):
 *
 * | column | type (pg / sqlite) | |
 * |---|---|---|
 * | `id` | `BIGINT` identity / `INTEGER` autoincrement | insertion order |
 * | `message_id` | `TEXT` | the envelope's message id (= `Nats-Msg-Id`) |
 * | `subject` | `TEXT` | where the relay appends it |
 * | `headers` | `TEXT` | the wire headers, one `name:value` per line |
 * | `body` | `BYTEA` / `BLOB` | the wire body |
 * | `partition_key` | `TEXT` null | messages of one key are published in order |
 * | `state` | `TEXT` | `pending`, `sent` or `failed` (parked) |
 * | `attempts` | `INTEGER` | append attempts made |
 * | `last_error` | `TEXT` null | the last append failure |
 * | `created_at`, `available_at`, `last_attempt_at`, `sent_at`, `lease_until` | `BIGINT` / `INTEGER` | Unix epoch milliseconds |
 * | `lease_owner` | `TEXT` null | the relay holding the lease |
 *
 * with partial indexes on pending ids, on the unsent rows of each key, on
 * the keys of rows that are leased or failed (the keys a claim skips), and
 * on the sent time of sent rows.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as Config from "./internal/config.ts"
import * as OutboxError from "./OutboxError.ts"

/**
 * Options of the migrations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The outbox table (default `herald_outbox`). */
  readonly table?: string | undefined
  /** The `Migrator`'s table for `migrate` (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

/**
 * The SQL dialects the outbox supports.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "sqlite"

const quote = (parts: ReadonlyArray<string>): string => parts.map((p) => `"${p}"`).join(".")

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
): Result.Result<ReadonlyArray<string>, OutboxError.OutboxError> =>
  Result.map(Config.validateTable(options?.table ?? Config.defaultTable), (parts) => {
    const table = quote(parts)
    const base = parts[parts.length - 1]!
    const schema = parts.length === 2 ? parts[0]! : undefined
    // PostgreSQL puts an index in its table's schema and wants the bare name;
    // SQLite qualifies the index name and wants the bare table name.
    const index = (suffix: string, body: string) =>
      dialect === "pg"
        ? `CREATE INDEX IF NOT EXISTS "${base}_${suffix}" ON ${table} ${body}`
        : `CREATE INDEX IF NOT EXISTS ${schema === undefined ? "" : `"${schema}".`}"${base}_${suffix}" ON "${base}" ${body}`
    const id = dialect === "pg" ? "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" : "id INTEGER PRIMARY KEY AUTOINCREMENT"
    const int64 = dialect === "pg" ? "BIGINT" : "INTEGER"
    const bytes = dialect === "pg" ? "BYTEA" : "BLOB"
    return [
      `CREATE TABLE IF NOT EXISTS ${table} (
  ${id},
  message_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  headers TEXT NOT NULL,
  body ${bytes} NOT NULL,
  partition_key TEXT,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at ${int64} NOT NULL,
  available_at ${int64} NOT NULL DEFAULT 0,
  last_attempt_at ${int64},
  lease_owner TEXT,
  lease_until ${int64},
  sent_at ${int64}
)`,
      index("pending_idx", "(id) WHERE state = 'pending'"),
      // A key's unsent rows in order: a claimed message's predecessor of its key.
      index("key_idx", "(partition_key, id) WHERE state <> 'sent' AND partition_key IS NOT NULL"),
      // The keys a claim must skip: rows leased, failed once, or parked (few, whatever the backlog).
      index(
        "blocked_idx",
        "(partition_key) WHERE state <> 'sent' AND partition_key IS NOT NULL AND (lease_until IS NOT NULL OR available_at > 0 OR state = 'failed')"
      ),
      index("sent_idx", "(sent_at) WHERE state = 'sent'")
    ]
  })

const dialectOf = (sql: SqlClient.SqlClient): Dialect | undefined =>
  sql.onDialectOrElse({
    pg: (): Dialect | undefined => "pg",
    sqlite: (): Dialect | undefined => "sqlite",
    orElse: (): Dialect | undefined => undefined
  })

/**
 * The DDL as one effect on the `SqlClient` of the context: idempotent, for
 * an application's own `Migrator`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = (options?: Options): Effect.Effect<void, OutboxError.OutboxError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = dialectOf(sql)
    if (dialect === undefined) {
      return yield* Effect.fail(OutboxError.invalidConfig("the outbox supports PostgreSQL and SQLite"))
    }
    const ddl = yield* Effect.fromResult(statements(dialect, options))
    for (const statement of ddl) {
      yield* Effect.mapError(sql.unsafe(statement).raw, OutboxError.storage("migrate"))
    }
  })

/**
 * Runs the outbox migrations with `effect/sql`'s `Migrator`, recording them in
 * the outbox's own migrations table; answers the migrations it ran.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = Effect.fn("OutboxMigrations.migrate")(function*(options?: Options) {
  const table = options?.table ?? Config.defaultTable
  yield* Effect.fromResult(Config.validateTable(table))
  const migrationsTable = options?.migrationsTable ?? `${table}_migrations`
  yield* Effect.fromResult(Config.validateTable(migrationsTable))
  const run = Migrator.make({})({
    loader: Migrator.fromRecord({ "1_create_outbox": migration({ table }) }),
    table: migrationsTable
  })
  return yield* Effect.mapError(run, (cause) =>
    OutboxError.make(new OutboxError.MigrationFailed({ cause, detail: cause.message })))
})

/**
 * A layer that runs `migrate` when it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, OutboxError.OutboxError, SqlClient.SqlClient> =>
  Layer.effectDiscard(migrate(options))
