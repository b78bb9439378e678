/**
 * The SQL inbox store: PostgreSQL or SQLite through `effect/sql`'s
 * `SqlClient`, whichever driver the application provides
 * (`@effect/sql-pg`'s `PgClient`, `@herald/sql-sqlite`'s
 * `SqliteClient`).
 *
 * `run(entry, effect)` is one transaction with the record and the effect:
 *
 * ```ts
 * sql.withTransaction(
 *   // PostgreSQL and SQLite alike: a duplicate inserts nothing and returns no row
 *   sql`INSERT INTO herald_inbox (...) VALUES (...)
 *       ON CONFLICT (consumer, message_id) DO NOTHING RETURNING 1 AS inserted`.pipe(
 *     Effect.flatMap((rows) => rows.length === 0 ? Effect.succeed("duplicate") : Effect.as(effect, "processed"))
 *   )
 * )
 * ```
 *
 * - A new message: the row is inserted, the effect runs on the same
 *   connection (its SQL, through the same `SqlClient`, joins the
 *   transaction), and both commit together.
 * - A duplicate: the insert finds the key and does nothing; the effect is
 *   skipped. On PostgreSQL a conflict with a transaction still in progress
 *   waits for it: when it commits, this one is a duplicate; when it rolls
 *   back, this one inserts and runs. `ON CONFLICT DO NOTHING` is used rather
 *   than catching a unique violation because a failed statement aborts a
 *   PostgreSQL transaction.
 * - A failure of the effect (or an interruption) rolls back both the row and
 *   the effect's writes.
 *
 * The effect's SQL must go through the same `SqlClient` (the one in the
 * context) to join the transaction; writes through another client or
 * another database are not covered. `run` refuses to start inside a
 * transaction that is already open (`NestedTransaction`): its commit would
 * only be a savepoint's.
 *
 * Statements run without the client's name transforms; the table is created
 * by `InboxMigrations` (at start, unless `migrate: false`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as Stream from "effect/Stream"
import * as InboxError from "./InboxError.ts"
import * as InboxMigrations from "./InboxMigrations.ts"
import * as InboxStore from "./InboxStore.ts"
import * as Table from "./internal/table.ts"

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `name` or `schema.name` (default `herald_inbox`). */
  readonly table?: string | undefined
  /** Create the table at start when it is missing (default `true`). */
  readonly migrate?: boolean | undefined
  /** Records deleted per statement by retention (default 1,000). */
  readonly deleteBatchSize?: number | undefined
}

/** A failure of the guarded effect, told apart from the store's own `SqlError`s. */
class EffectFailure<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

/** A failure of the statement that inserts the record, told apart from the transaction's (begin, commit). */
class InsertFailure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

const toNumber = (value: number | string | bigint): number => typeof value === "number" ? value : Number(value)

const toRecord = (row: Table.Row): InboxStore.InboxRecord => ({
  consumer: row.consumer,
  messageId: row.message_id,
  stream: row.stream,
  streamSequence: toNumber(row.stream_sequence),
  subject: row.subject,
  type: row.message_type,
  deliveryCount: toNumber(row.delivery_count),
  processedAt: toNumber(row.processed_at)
})

const positiveInt = (what: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Result.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Result.succeed(value)
    : Result.fail(InboxError.invalid(`${what} must be a positive integer, got ${value}`))

/**
 * Builds the store on the `SqlClient` of the context; creates the table
 * unless `migrate: false`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<InboxStore.InboxStore["Service"], InboxError.InboxError, SqlClient.SqlClient> = Effect.fn(
  "InboxSql.make"
)(function*(options?: Options) {
  const client = yield* SqlClient.SqlClient
  const sql = client.withoutTransforms()
  const parsed = Table.parse(options?.table)
  if (Result.isFailure(parsed)) return yield* Effect.fail(parsed.failure)
  const table = parsed.success
  const dialectResult = InboxMigrations.dialectOf(sql)
  if (Result.isFailure(dialectResult)) return yield* Effect.fail(dialectResult.failure)
  const dialect = dialectResult.success
  const batch = positiveInt("deleteBatchSize", options?.deleteBatchSize, 1_000)
  if (Result.isFailure(batch)) return yield* Effect.fail(batch.failure)
  const batchSize = batch.success
  if (options?.migrate ?? true) yield* InboxMigrations.run({ table: table.qualified })

  const statements = Table.statements(dialect, table)
  const transaction = client.transactionService
  const label = `inbox table ${table.qualified}`

  // The hot path: no `Effect.fn` span of its own (the transaction has one,
  // `sql.transaction`), one service lookup, one clock read, one transaction.
  const run = <E, R>(
    entry: InboxStore.Entry,
    effect: Effect.Effect<void, E, R>
  ): Effect.Effect<InboxStore.Outcome, E | InboxError.InboxError, R> =>
    Effect.flatMap(Effect.serviceOption(transaction), (open) =>
      Option.isSome(open)
        ? Effect.fail(
          InboxError.make(new InboxError.NestedTransaction({ consumer: entry.consumer, messageId: entry.messageId }))
        )
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          sql.withTransaction(
            Effect.flatMap(
              sql.unsafe<{ readonly inserted: number }>(statements.insert, [
                entry.consumer,
                entry.messageId,
                entry.stream,
                entry.streamSequence,
                entry.subject,
                entry.type,
                entry.deliveryCount,
                now
              ]).pipe(Effect.mapError((e) => new InsertFailure(e))),
              (rows): Effect.Effect<InboxStore.Outcome, EffectFailure<E>, R> =>
                rows.length === 0
                  ? Effect.succeed("duplicate")
                  : Effect.as(Effect.mapError(effect, (e) => new EffectFailure(e)), "processed")
            )
          ).pipe(
            Effect.mapError((e): E | InboxError.InboxError =>
              e instanceof EffectFailure
                ? (e.error as E)
                : e instanceof InsertFailure
                ? InboxError.store(`record in ${label}`, e.error, { ownKey: true })
                : InboxError.store(`record in ${label}`, e)
            )
          )))

  const paramsOf = (entry: InboxStore.Entry, now: number) => [
    entry.consumer,
    entry.messageId,
    entry.stream,
    entry.streamSequence,
    entry.subject,
    entry.type,
    entry.deliveryCount,
    now
  ]
  /**
   * The transaction's connection as a message's effect sees it: its first
   * statement is preceded by the message's savepoint. An effect that runs no
   * SQL has nothing to roll back but its record, and costs no round trip.
   */
  const lazySavepoint = (conn: SqlConnection.Connection) => {
    let taken = false
    const before = Effect.suspend(() => {
      if (taken) return Effect.void
      taken = true
      return conn.executeUnprepared(`SAVEPOINT herald_inbox_item`, [], undefined)
    })
    const connection: SqlConnection.Connection = {
      execute: (text, params, transform) => Effect.andThen(before, conn.execute(text, params, transform)),
      executeRaw: (text, params) => Effect.andThen(before, conn.executeRaw(text, params)),
      executeStream: (text, params, transform) =>
        Stream.unwrap(Effect.as(before, conn.executeStream(text, params, transform))),
      executeValues: (text, params) => Effect.andThen(before, conn.executeValues(text, params)),
      executeValuesUnprepared: (text, params) => Effect.andThen(before, conn.executeValuesUnprepared(text, params)),
      executeUnprepared: (text, params, transform) => Effect.andThen(before, conn.executeUnprepared(text, params, transform))
    }
    return { connection, taken: () => taken }
  }
  const keyOf = (consumer: string, messageId: string) => `${consumer}\u0000${messageId}`
  const savepoint = sql.unsafe(`SAVEPOINT herald_inbox_item`)
  const rollbackToSavepoint = sql.unsafe(`ROLLBACK TO SAVEPOINT herald_inbox_item`)

  // One transaction for the batch: the records of its distinct messages in
  // one statement (in key order, so that two batches lock rows in the same
  // order), then each new message's effect in a savepoint of its own. A
  // savepoint is not released: the next one nests in it, and `ROLLBACK TO`
  // names the innermost. An effect that fails is rolled back to its
  // savepoint and its record deleted; the others commit.
  const runBatch = <E, R>(
    items: ReadonlyArray<InboxStore.BatchItem<E, R>>
  ): Effect.Effect<ReadonlyArray<Exit.Exit<InboxStore.Outcome, E | InboxError.InboxError>>, InboxError.InboxError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      type Result = Exit.Exit<InboxStore.Outcome, E | InboxError.InboxError>
      const results: Array<Result | undefined> = new Array(items.length)
      /** Index of the first item of each key; later items of a key take its outcome. */
      const firsts = new Map<string, number>()
      const copies = new Map<number, number>()
      items.forEach((item, i) => {
        if (Option.isSome(Context.getOption(item.context, transaction))) {
          results[i] = Exit.fail(
            InboxError.make(
              new InboxError.NestedTransaction({ consumer: item.entry.consumer, messageId: item.entry.messageId })
            )
          )
          return
        }
        const key = keyOf(item.entry.consumer, item.entry.messageId)
        const first = firsts.get(key)
        if (first === undefined) firsts.set(key, i)
        else copies.set(i, first)
      })
      const order = [...firsts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, i]) => i)

      const apply = (i: number, open: SqlClient.TransactionConnection.Service) =>
        Effect.gen(function*() {
          const item = items[i]!
          const lazy = lazySavepoint(open[0])
          const exit = yield* Effect.exit(
            Effect.updateContext(
              item.effect,
              (own: Context.Context<never>) => Context.add(Context.merge(own, item.context), transaction, [lazy.connection, open[1]])
            )
          )
          if (Exit.isSuccess(exit)) {
            results[i] = Exit.succeed("processed")
            return
          }
          if (lazy.taken()) yield* rollbackToSavepoint
          yield* sql.unsafe(statements.delete, [item.entry.consumer, item.entry.messageId])
          results[i] = exit as Result
        })

      /** One statement for all the records; `undefined` when it failed (a value the database refuses). */
      const insertAll = Effect.gen(function*() {
        if (order.length === 0) return new Set<string>()
        yield* savepoint
        const rows = yield* Effect.exit(
          sql.unsafe<{ readonly consumer: string; readonly message_id: string }>(
            statements.insertMany(order.length),
            order.flatMap((i) => paramsOf(items[i]!.entry, now))
          )
        )
        if (Exit.isSuccess(rows)) return new Set(rows.value.map((r) => keyOf(r.consumer, r.message_id)))
        yield* rollbackToSavepoint
        return undefined
      })

      /** One message at a time, when the statement for all failed: the record's failure is its message's. */
      const insertOne = (i: number) =>
        Effect.gen(function*() {
          const entry = items[i]!.entry
          yield* savepoint
          const rows = yield* Effect.exit(sql.unsafe(statements.insert, paramsOf(entry, now)))
          if (Exit.isSuccess(rows)) return rows.value.length > 0
          yield* rollbackToSavepoint
          const cause = Cause.squash(rows.cause)
          results[i] = Exit.fail(InboxError.store(`record in ${label}`, cause, { ownKey: true }))
          return false
        })

      const body = Effect.gen(function*() {
        const open = Option.getOrUndefined(yield* Effect.serviceOption(transaction))
        if (open === undefined) return yield* Effect.die(new Error("InboxSql.runBatch: no transaction inside withTransaction"))
        const inserted = yield* insertAll
        for (const i of order) {
          const entry = items[i]!.entry
          const isNew = inserted === undefined
            ? yield* insertOne(i)
            : inserted.has(keyOf(entry.consumer, entry.messageId))
          if (results[i] !== undefined) continue
          if (isNew) yield* apply(i, open)
          else results[i] = Exit.succeed("duplicate")
        }
      })

      return sql.withTransaction(body).pipe(
        // The commit's failure cannot be told to be one message's: the batch is tried again.
        Effect.mapError((e) => InboxError.store(`record a batch in ${label}`, e, { retryable: true })),
        Effect.map(() =>
          items.map((_, i): Result => {
            const own = results[i]
            if (own !== undefined) return own
            const exit = results[copies.get(i)!]!
            return Exit.isSuccess(exit) ? Exit.succeed("duplicate") : exit
          })
        )
      )
    })

  const record = Effect.fn("InboxSql.record")(function*(consumer: string, messageId: string) {
    const rows = yield* sql.unsafe<Table.Row>(statements.select, [consumer, messageId]).pipe(
      Effect.mapError((e) => InboxError.store(`read ${label}`, e))
    )
    return rows.length === 0 ? Option.none<InboxStore.InboxRecord>() : Option.some(toRecord(rows[0]!))
  })

  const records = Effect.fn("InboxSql.records")(function*(query?: InboxStore.Query) {
    const limit = positiveInt("limit", query?.limit, InboxStore.defaultLimit)
    if (Result.isFailure(limit)) return yield* Effect.fail(limit.failure)
    const where = sql.and([
      ...(query?.consumer === undefined ? [] : [sql`consumer = ${query.consumer}`]),
      ...(query?.stream === undefined ? [] : [sql`stream = ${query.stream}`]),
      ...(query?.type === undefined ? [] : [sql`message_type = ${query.type}`]),
      ...(query?.since === undefined ? [] : [sql`processed_at >= ${query.since}`]),
      ...(query?.until === undefined ? [] : [sql`processed_at < ${query.until}`])
    ])
    const rows = yield* sql<Table.Row>`SELECT ${sql.literal(Table.columnList)} FROM ${sql.literal(table.quoted)} WHERE ${where} ORDER BY processed_at, consumer, message_id LIMIT ${limit.success}`
      .pipe(Effect.mapError((e) => InboxError.store(`query ${label}`, e)))
    return rows.map(toRecord) as ReadonlyArray<InboxStore.InboxRecord>
  })

  const deleteBefore = Effect.fn("InboxSql.deleteBefore")(function*(cutoff: number) {
    let total = 0
    while (true) {
      const rows = yield* sql.unsafe(statements.deleteBefore, [cutoff, batchSize]).pipe(
        Effect.mapError((e) => InboxError.store(`retention of ${label}`, e))
      )
      total += rows.length
      if (rows.length < batchSize) return total
    }
  })

  const forget = Effect.fn("InboxSql.forget")(function*(consumer: string, messageId: string) {
    const rows = yield* sql.unsafe(statements.delete, [consumer, messageId]).pipe(
      Effect.mapError((e) => InboxError.store(`forget in ${label}`, e))
    )
    return rows.length > 0
  })

  return InboxStore.InboxStore.of({
    kind: `sql:${dialect}`,
    guarantee: "atomic",
    run,
    runBatch,
    record,
    records,
    deleteBefore,
    forget
  })
})

/**
 * The SQL store as a layer over the application's `SqlClient`.
 *
 * ```ts
 * const inbox = InboxSql.layer({ table: "billing_inbox" }).pipe(Layer.provide(PgClient.layer({ ... })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<InboxStore.InboxStore, InboxError.InboxError, SqlClient.SqlClient> =>
  Layer.effect(InboxStore.InboxStore, make(options))
