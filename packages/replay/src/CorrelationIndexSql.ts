/**
 * The correlation index in SQL: PostgreSQL (`@effect/sql-pg`) and SQLite
 * (`@herald/sql-sqlite`), through `effect/sql`'s `SqlClient` only.
 *
 * ```ts
 * const IndexLive = CorrelationIndexSql.layer().pipe(
 *   Layer.provide(PgClient.layer({ url }))           // or SqliteClient.layer({ filename })
 * )
 * ```
 *
 * - `record` is one transaction of `INSERT ... ON CONFLICT (stream,
 *   sequence) DO NOTHING RETURNING` (in chunks of 500 rows): a key already
 *   there stays as it was, and the rows returned are the new ones. Two
 *   runners recording one delivery at once: PostgreSQL makes the second
 *   wait for the first and then skip the row; SQLite has one writer.
 * - `lookup` reads the rows of one correlation id through the index on
 *   `correlation_id`, ordered by stream (code point, whatever the
 *   database's collation) and sequence.
 * - `forget` deletes a stream's rows and answers how many (on PostgreSQL
 *   one statement that counts the rows it deleted).
 *
 * A failed statement is a `StoreError` classified by `StoreFault.classify`
 * (retryable unless the data caused it). Statements run without the
 * client's name transforms; the table is created by
 * `CorrelationIndexMigrations` (at start, unless `migrate: false`).
 *
 * @since 0.1.0
 */
import { Envelope } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as CorrelationIndex from "./CorrelationIndex.ts"
import * as CorrelationIndexMigrations from "./CorrelationIndexMigrations.ts"
import * as Tables from "./internal/correlationTables.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * Options of the SQL index.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table, `table` or `schema.table` (default `herald_correlation_index`). */
  readonly table?: string | undefined
  /** Run `CorrelationIndexMigrations.migrate` at start (default `true`). */
  readonly migrate?: boolean | undefined
  /** The `Migrator`'s table (default `<table>_migrations`). */
  readonly migrationsTable?: string | undefined
}

type Int = number | string | bigint

interface Row {
  readonly stream: string
  readonly sequence: Int
  readonly correlation_id: string
  readonly message_id: string
  readonly causation_id: string
  readonly type: string
  readonly kind: string | null
  readonly subject: string
  readonly timestamp: Int
}

const columns = "stream, sequence, correlation_id, message_id, causation_id, type, kind, subject, timestamp"

const num = (value: Int): number => typeof value === "number" ? value : Number(value)

const toEntry = (row: Row): CorrelationIndex.Entry => ({
  correlationId: row.correlation_id,
  messageId: row.message_id,
  causationId: row.causation_id,
  type: row.type,
  // a value the store did not write (null before the column, or set by hand) is not a kind
  kind: Envelope.isKind(row.kind) ? row.kind : null,
  subject: row.subject,
  stream: row.stream,
  sequence: num(row.sequence),
  timestamp: num(row.timestamp)
})

/** 9 parameters a row: 4,500 per statement, below every driver's limit. */
const chunkSize = 500

/**
 * Builds the index on the `SqlClient` of the context; runs the migrations
 * unless `migrate: false`. Fails with `InvalidConfig` for a table that is
 * not an identifier and `UnsupportedDialect` for a client that is neither
 * PostgreSQL nor SQLite.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<CorrelationIndex.CorrelationIndex["Service"], ReplayError.ReplayError, SqlClient.SqlClient> = Effect
  .fn("CorrelationIndexSql.make")(function*(options?: Options) {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const table = yield* Effect.fromResult(Tables.parse(options?.table))
    const dialect = yield* Effect.fromResult(Tables.dialectOf(sql))
    if (options?.migrate ?? true) {
      yield* CorrelationIndexMigrations.migrate({ table: table.qualified, migrationsTable: options?.migrationsTable })
    }
    const t = sql.literal(table.quoted)
    const byStream = sql.literal(dialect === "pg" ? `stream COLLATE "C"` : "stream")
    const failed = (operation: string) => (cause: unknown) =>
      ReplayError.store(`correlation index ${operation} (${table.qualified})`, cause)

    const insert = (entries: ReadonlyArray<CorrelationIndex.Entry>) =>
      sql<{ readonly ok: number }>`INSERT INTO ${t} ${
        sql.insert(
          entries.map((e) => ({
            stream: e.stream,
            sequence: e.sequence,
            correlation_id: e.correlationId,
            message_id: e.messageId,
            causation_id: e.causationId,
            type: e.type,
            kind: e.kind ?? null,
            subject: e.subject,
            timestamp: e.timestamp
          })) as unknown as [Record<string, unknown>, ...Array<Record<string, unknown>>]
        )
      } ON CONFLICT (stream, sequence) DO NOTHING RETURNING 1 AS ok`

    const record = (entries: ReadonlyArray<CorrelationIndex.Entry>) =>
      Effect.suspend(() => {
        const checked = CorrelationIndex.validateEntries(entries)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        const all = checked.success
        if (all.length === 0) return Effect.succeed(0)
        const chunks: Array<ReadonlyArray<CorrelationIndex.Entry>> = []
        for (let i = 0; i < all.length; i += chunkSize) chunks.push(all.slice(i, i + chunkSize))
        const write = Effect.map(
          Effect.forEach(chunks, (chunk) => Effect.map(insert(chunk), (rows) => rows.length)),
          (counts) => counts.reduce((a, b) => a + b, 0)
        )
        return (chunks.length === 1 ? write : sql.withTransaction(write)).pipe(Effect.mapError(failed("record")))
      })

    const lookup = (correlationId: string, options?: CorrelationIndex.LookupOptions) =>
      Effect.suspend(() => {
        const checked = CorrelationIndex.checkName("lookup: correlationId", correlationId)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        if (options?.stream !== undefined) {
          const stream = CorrelationIndex.checkName("lookup: stream", options.stream)
          if (Result.isFailure(stream)) return Effect.fail(stream.failure)
        }
        const where = options?.stream === undefined
          ? sql`correlation_id = ${correlationId}`
          : sql`correlation_id = ${correlationId} AND stream = ${options.stream}`
        return sql<Row>`SELECT ${sql.literal(columns)} FROM ${t} WHERE ${where} ORDER BY ${byStream}, sequence`.pipe(
          Effect.map((rows): ReadonlyArray<CorrelationIndex.Entry> => rows.map(toEntry)),
          Effect.mapError(failed("lookup"))
        )
      })

    const forget = (stream: string) =>
      Effect.suspend(() => {
        const checked = CorrelationIndex.checkName("forget: stream", stream)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        // PostgreSQL: one statement counting exactly the rows it deleted.
        // SQLite: count and delete in one transaction (one writer).
        return (dialect === "pg"
          ? sql<{ readonly n: Int }>`WITH __corr_d AS (DELETE FROM ${t} WHERE stream = ${stream} RETURNING 1) SELECT count(*) AS n FROM __corr_d`
            .pipe(Effect.map((rows) => num(rows[0]!.n)))
          : sql.withTransaction(Effect.gen(function*() {
            const counted = yield* sql<{ readonly n: Int }>`SELECT count(*) AS n FROM ${t} WHERE stream = ${stream}`
            yield* sql`DELETE FROM ${t} WHERE stream = ${stream}`
            return num(counted[0]!.n)
          }))).pipe(Effect.mapError(failed("forget")))
      })

    return CorrelationIndex.CorrelationIndex.of({ kind: `sql:${dialect}`, record, lookup, forget })
  })

/**
 * The SQL index as a layer, over the application's `SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<CorrelationIndex.CorrelationIndex, ReplayError.ReplayError, SqlClient.SqlClient> =>
  Layer.effect(CorrelationIndex.CorrelationIndex, make(options))
