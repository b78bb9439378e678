/**
 * The SQL `SagaStore`: PostgreSQL (`@effect/sql-pg`) and SQLite
 * (`@herald/sql-sqlite`), through `effect/sql`'s `SqlClient` only, with the
 * outgoing messages written through `@herald/outbox` in the same
 * transaction.
 *
 * ```ts
 * const SagaStoreLive = SagaSql.layer().pipe(
 *   Layer.provideMerge(Outbox.layer),                // outgoing messages, in the commit's transaction
 *   Layer.provideMerge(OutboxSql.layer()),
 *   Layer.provide(OutboxMigrations.layer()),
 *   Layer.provideMerge(PgClient.layer({ url }))      // or SqliteClient.layer({ filename })
 * )
 * ```
 *
 * An `OutboxRelay` on the same outbox table appends the outgoing messages to
 * the `EventLog`; `flush` does nothing here. The messages of one instance
 * share the partition key `<saga>:<id>`, so the relay appends them in the
 * order they were committed.
 *
 * `commit` is one transaction (`sql.withTransaction`):
 *
 * 1. `INSERT` the transition `ON CONFLICT (saga, message_id) DO NOTHING
 *    RETURNING`: no row, the trigger was processed: `"duplicate"`.
 * 2. A new instance: `INSERT ... ON CONFLICT (saga, id) DO NOTHING
 *    RETURNING`; otherwise `UPDATE ... WHERE version = expectedVersion
 *    RETURNING`: no row, `"conflict"`.
 * 3. `DELETE` the fired timeout by its token `RETURNING`: no row,
 *    `"conflict"`.
 * 4. `DELETE` the instance's timeouts named in `cancel` or in `schedule`,
 *    then `INSERT` the scheduled ones.
 * 5. `Outbox.publishAll` the outgoing messages.
 *
 * A conflict fails the transaction (so it rolls back every write before it)
 * and answers `"conflict"`. On PostgreSQL under READ COMMITTED, every step
 * that decides an answer waits for a concurrent transaction holding the same
 * key and then sees its outcome: the same trigger delivered twice at once
 * waits at step 1 (the second answers `"duplicate"` when the first commits,
 * and goes on when it rolls back); two transitions of one instance wait at
 * step 2 (the second re-reads the committed version and answers
 * `"conflict"`; two new instances: the second's insert finds the first's
 * row). Statements touch keys in the same order in every commit, so they do
 * not deadlock. SQLite has one writer.
 *
 * Errors: a failed statement is a `StoreError` classified by
 * `StoreFault.classify` (retryable unless the data caused it); an outbox
 * failure is a `StoreError` when it is the database's, an
 * `InvalidTransition` when the message was refused. A commit that the
 * tables cannot hold (a state that is not JSON, an unknown status, two
 * scheduled timeouts with one name, an outgoing message on an invalid
 * subject) is an `InvalidTransition`, refused before the transaction
 * opens. A stored row whose JSON does not parse is a `CorruptState`.
 *
 * Statements run without the client's name transforms; the tables are
 * created by `SagaMigrations` (at start, unless `migrate: false`).
 *
 * @since 0.1.0
 */
import { Outbox, type OutboxError } from "@herald/outbox"
import { Subject } from "@herald/subject"
import { Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as Tables from "./internal/sqlTables.ts"
import * as SagaError from "./SagaError.ts"
import * as SagaMigrations from "./SagaMigrations.ts"
import * as SagaStore from "./SagaStore.ts"

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The tables' prefix, `prefix` or `schema.prefix` (default `herald_saga`). */
  readonly prefix?: string | undefined
  /** Run `SagaMigrations.migrate` at start (default `true`). */
  readonly migrate?: boolean | undefined
  /** The `Migrator`'s table (default `<prefix>_migrations`). */
  readonly migrationsTable?: string | undefined
}

type Int = number | string | bigint

interface InstanceRow {
  readonly saga: string
  readonly id: string
  readonly status: string
  readonly state: string
  readonly version: Int
  readonly created_at: Int
  readonly updated_at: Int
  readonly failure: string | null
}

interface TransitionRow {
  readonly saga: string
  readonly message_id: string
  readonly id: string
  readonly version: Int
  readonly trigger_type: string
  readonly trigger_subject: string
  readonly trigger_stream: string | null
  readonly trigger_sequence: Int | null
  readonly status: string
  readonly outgoing: string
  readonly scheduled: string
  readonly cancelled: string
  readonly at: Int
}

interface TimeoutRow {
  readonly token: string
  readonly saga: string
  readonly id: string
  readonly name: string
  readonly due_at: Int
  readonly headers: string
  readonly body: Uint8Array
}

const instanceColumns = "saga, id, status, state, version, created_at, updated_at, failure"
const transitionColumns =
  "saga, message_id, id, version, trigger_type, trigger_subject, trigger_stream, trigger_sequence, status, outgoing, scheduled, cancelled, at"
const timeoutColumns = "token, saga, id, name, due_at, headers, body"

const finalStatuses = SagaStore.statuses.filter(SagaStore.isFinal)

const num = (value: Int): number => typeof value === "number" ? value : Number(value)

const statusOf = (value: string): SagaStore.Status => value as SagaStore.Status

const toInstance = (row: InstanceRow): SagaStore.Instance => ({
  saga: row.saga,
  id: row.id,
  status: statusOf(row.status),
  state: JSON.parse(row.state) as unknown,
  version: num(row.version),
  createdAt: num(row.created_at),
  updatedAt: num(row.updated_at),
  failure: row.failure ?? undefined
})

const toHistory = (row: TransitionRow): SagaStore.HistoryEntry => ({
  saga: row.saga,
  id: row.id,
  version: num(row.version),
  trigger: {
    messageId: row.message_id,
    type: row.trigger_type,
    subject: row.trigger_subject,
    stream: row.trigger_stream ?? undefined,
    streamSequence: row.trigger_sequence === null ? undefined : num(row.trigger_sequence)
  },
  status: statusOf(row.status),
  outgoing: JSON.parse(row.outgoing) as SagaStore.HistoryEntry["outgoing"],
  scheduled: JSON.parse(row.scheduled) as SagaStore.HistoryEntry["scheduled"],
  cancelled: JSON.parse(row.cancelled) as SagaStore.HistoryEntry["cancelled"],
  at: num(row.at)
})

const toTimeout = (row: TimeoutRow): SagaStore.Timeout => ({
  saga: row.saga,
  id: row.id,
  token: row.token,
  name: row.name,
  dueAt: num(row.due_at),
  // A copy: drivers return their own Uint8Array subclasses (node's Buffer).
  message: { headers: JSON.parse(row.headers) as Record<string, string>, body: Uint8Array.from(row.body) }
})

/**
 * Decodes rows; a row whose JSON columns do not parse (edited by hand) is a
 * `CorruptState` of its instance rather than a defect.
 */
const decodeRows = <Row extends { readonly saga: string; readonly id: string }, A>(
  rows: ReadonlyArray<Row>,
  decode: (row: Row) => A
): Effect.Effect<ReadonlyArray<A>, SagaError.SagaError> =>
  Effect.suspend(() => {
    const decoded: Array<A> = []
    for (const row of rows) {
      try {
        decoded.push(decode(row))
      } catch (cause) {
        return Effect.fail(
          SagaError.make(
            new SagaError.CorruptState({
              saga: row.saga,
              id: row.id,
              detail: `a stored JSON column does not parse: ${cause instanceof Error ? cause.message : String(cause)}`,
              cause
            })
          )
        )
      }
    }
    return Effect.succeed(decoded)
  })

/** Fails the commit's transaction so that it rolls back, then becomes `"conflict"`. */
class ConflictSignal {
  readonly _tag = "ConflictSignal"
}
const conflictSignal = new ConflictSignal()
const isConflictSignal = (u: unknown): u is ConflictSignal => u instanceof ConflictSignal

/** An outbox failure inside the transaction, told apart from the store's own `SqlError`s. */
class OutboxFailure {
  readonly _tag = "OutboxFailure"
  readonly error: OutboxError.OutboxError
  constructor(error: OutboxError.OutboxError) {
    this.error = error
  }
}

const invalidTransition = (c: SagaStore.Commit, detail: string, cause?: unknown) =>
  SagaError.make(
    new SagaError.InvalidTransition({ saga: c.saga, id: c.id, detail, ...(cause === undefined ? {} : { cause }) })
  )

/** The JSON text of a value, or `undefined` when it has none (a function, `undefined`, a cycle, a bigint). */
const jsonOf = (value: unknown): string | undefined => {
  try {
    const text = JSON.stringify(value)
    return typeof text === "string" ? text : undefined
  } catch {
    return undefined
  }
}

const nonNegativeInt = (what: string, value: number): Result.Result<number, SagaError.SagaError> =>
  Number.isSafeInteger(value) && value >= 0
    ? Result.succeed(value)
    : Result.fail(SagaError.invalid(`${what} must be a non-negative integer, got ${value}`))

/** What a commit writes, checked and encoded before the transaction opens. */
interface Prepared {
  readonly state: string
  readonly outgoing: string
  readonly scheduled: string
  readonly cancelled: string
  readonly timeouts: ReadonlyArray<Record<string, unknown>>
  /** Names whose pending timeout is deleted: cancelled or replaced. */
  readonly names: ReadonlyArray<string>
}

/** Checks a commit: everything the tables would refuse, refused first as an `InvalidTransition`. */
const prepare = (c: SagaStore.Commit): Result.Result<Prepared, SagaError.SagaError> => {
  if (!SagaStore.statuses.includes(c.status)) {
    return Result.fail(invalidTransition(c, `unknown status ${JSON.stringify(c.status)}`))
  }
  if (!Number.isSafeInteger(c.expectedVersion) || c.expectedVersion < 0) {
    return Result.fail(invalidTransition(c, `expectedVersion must be a non-negative integer, got ${c.expectedVersion}`))
  }
  const state = jsonOf(c.state)
  if (state === undefined) return Result.fail(invalidTransition(c, "the state is not a JSON value"))
  for (const o of c.outgoing) {
    const subject = Subject.make(o.subject)
    if (Result.isFailure(subject)) {
      return Result.fail(
        invalidTransition(c, `outgoing ${o.envelope.type} on ${o.subject}: ${subject.failure.message}`, subject.failure)
      )
    }
    const raw = Wire.encode(o.envelope)
    if (Result.isFailure(raw)) {
      return Result.fail(
        invalidTransition(c, `outgoing ${o.envelope.type} on ${o.subject}: ${raw.failure.message}`, raw.failure)
      )
    }
  }
  const seenNames = new Set<string>()
  const seenTokens = new Set<string>()
  const timeouts: Array<Record<string, unknown>> = []
  for (const t of c.schedule) {
    if (t.saga !== c.saga || t.id !== c.id) {
      return Result.fail(invalidTransition(c, `timeout ${t.name} belongs to saga ${t.saga} ${t.id}`))
    }
    if (seenNames.has(t.name)) return Result.fail(invalidTransition(c, `timeout ${t.name} is scheduled twice`))
    if (seenTokens.has(t.token)) return Result.fail(invalidTransition(c, `timeout token ${t.token} is used twice`))
    if (!Number.isSafeInteger(t.dueAt)) {
      return Result.fail(invalidTransition(c, `timeout ${t.name}: dueAt must be an integer, got ${t.dueAt}`))
    }
    seenNames.add(t.name)
    seenTokens.add(t.token)
    timeouts.push({
      token: t.token,
      saga: t.saga,
      id: t.id,
      name: t.name,
      due_at: t.dueAt,
      headers: JSON.stringify(t.message.headers),
      body: t.message.body
    })
  }
  const entry = SagaStore.historyOf(c)
  return Result.succeed({
    state,
    outgoing: JSON.stringify(entry.outgoing),
    scheduled: JSON.stringify(entry.scheduled),
    cancelled: JSON.stringify(entry.cancelled),
    timeouts,
    names: [...new Set([...c.cancel, ...seenNames])]
  })
}

/**
 * Builds the store on the `SqlClient` and the `Outbox` of the context (the
 * outbox must be on the same client, for its writes to join the commit's
 * transaction); runs the migrations unless `migrate: false`. Fails with
 * `InvalidConfig` for a prefix that is not an identifier and
 * `UnsupportedDialect` for a client that is neither PostgreSQL nor SQLite.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<SagaStore.SagaStore["Service"], SagaError.SagaError, SqlClient.SqlClient | Outbox.Outbox> = Effect
  .fn("SagaSql.make")(function*(options?: Options) {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const outbox = yield* Outbox.Outbox
    const tables = yield* Effect.fromResult(Tables.parse(options?.prefix))
    const dialect = yield* Effect.fromResult(Tables.dialectOf(sql))
    if (options?.migrate ?? true) {
      yield* SagaMigrations.migrate({ prefix: tables.qualified, migrationsTable: options?.migrationsTable })
    }

    const instances = sql.literal(tables.instances)
    const transitions = sql.literal(tables.transitions)
    const timeouts = sql.literal(tables.timeouts)
    // Text order by code point, as in memory, whatever the database's collation.
    const text = (column: string) => sql.literal(dialect === "pg" ? `${column} COLLATE "C"` : column)
    const failed = (operation: string) => (cause: unknown) => SagaError.store(`${operation} (${tables.qualified})`, cause)

    const insertTransition = (c: SagaStore.Commit, p: Prepared) =>
      sql<{ readonly ok: number }>`INSERT INTO ${transitions} ${
        sql.insert({
          saga: c.saga,
          message_id: c.trigger.messageId,
          id: c.id,
          version: c.expectedVersion + 1,
          trigger_type: c.trigger.type,
          trigger_subject: c.trigger.subject,
          trigger_stream: c.trigger.stream ?? null,
          trigger_sequence: c.trigger.streamSequence ?? null,
          status: c.status,
          outgoing: p.outgoing,
          scheduled: p.scheduled,
          cancelled: p.cancelled,
          at: c.now
        })
      } ON CONFLICT (saga, message_id) DO NOTHING RETURNING 1 AS ok`

    const writeInstance = (c: SagaStore.Commit, p: Prepared) =>
      c.expectedVersion === 0
        ? sql<{ readonly ok: number }>`INSERT INTO ${instances} ${
          sql.insert({
            saga: c.saga,
            id: c.id,
            status: c.status,
            state: p.state,
            version: 1,
            created_at: c.now,
            updated_at: c.now,
            failure: c.failure ?? null
          })
        } ON CONFLICT (saga, id) DO NOTHING RETURNING 1 AS ok`
        : sql<{ readonly ok: number }>`UPDATE ${instances} SET status = ${c.status}, state = ${p.state}, version = ${
          c.expectedVersion + 1
        }, updated_at = ${c.now}, failure = ${
          c.failure ?? null
        } WHERE saga = ${c.saga} AND id = ${c.id} AND version = ${c.expectedVersion} RETURNING 1 AS ok`

    const orConflict = <E, R>(self: Effect.Effect<ReadonlyArray<unknown>, E, R>) =>
      Effect.flatMap(self, (rows) => rows.length === 0 ? Effect.fail(conflictSignal) : Effect.void)

    const transaction = (c: SagaStore.Commit, p: Prepared) =>
      sql.withTransaction(Effect.gen(function*() {
        const recorded = yield* insertTransition(c, p)
        if (recorded.length === 0) return "duplicate" as const
        yield* orConflict(writeInstance(c, p))
        if (c.fired !== undefined) {
          yield* orConflict(sql`DELETE FROM ${timeouts} WHERE token = ${c.fired} RETURNING 1 AS ok`)
        }
        if (p.names.length > 0 || p.timeouts.length > 0) {
          const byName = p.names.length > 0 ? sql`(saga = ${c.saga} AND id = ${c.id} AND name IN ${sql.in(p.names)})` : sql`FALSE`
          // A scheduled token that is pending (under any name) is replaced too.
          const byToken = p.timeouts.length > 0 ? sql`token IN ${sql.in(p.timeouts.map((t) => t.token as string))}` : sql`FALSE`
          yield* sql`DELETE FROM ${timeouts} WHERE ${byName} OR ${byToken}`
        }
        if (p.timeouts.length > 0) {
          yield* sql`INSERT INTO ${timeouts} ${sql.insert(p.timeouts as [Record<string, unknown>, ...Array<Record<string, unknown>>])}`
        }
        if (c.outgoing.length > 0) {
          const partitionKey = `${c.saga}:${c.id}`
          yield* Effect.mapError(
            outbox.publishAll(c.outgoing.map((o) => ({ subject: o.subject, envelope: o.envelope, partitionKey }))),
            (e) => new OutboxFailure(e)
          )
        }
        return "committed" as const
      }))

    const commit = (c: SagaStore.Commit): Effect.Effect<SagaStore.CommitResult, SagaError.SagaError> =>
      Effect.suspend(() => {
        const prepared = prepare(c)
        if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
        return transaction(c, prepared.success).pipe(
          Effect.catchIf(isConflictSignal, () => Effect.succeed("conflict" as const)),
          Effect.mapError((e): SagaError.SagaError => {
            if (e instanceof OutboxFailure) {
              const error = e.error
              if (error.isRetryable || error.reason._tag === "StorageError") {
                return SagaError.store(`commit (${tables.qualified}): outbox`, error.reason.cause ?? error)
              }
              return invalidTransition(c, `outgoing messages: ${error.message}`, error)
            }
            return SagaError.store(`commit (${tables.qualified})`, e)
          })
        )
      })

    const load = (saga: string, id: string) =>
      sql<InstanceRow>`SELECT ${sql.literal(instanceColumns)} FROM ${instances} WHERE saga = ${saga} AND id = ${id}`.pipe(
        Effect.mapError(failed("load")),
        Effect.flatMap((rows) => decodeRows(rows, toInstance)),
        Effect.map((instances) => Option.fromNullishOr(instances[0]))
      )

    const processed = (saga: string, messageId: string) =>
      sql`SELECT 1 AS ok FROM ${transitions} WHERE saga = ${saga} AND message_id = ${messageId}`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(failed("processed"))
      )

    const due = (now: number, limit: number, saga?: string) =>
      Effect.suspend(() => {
        const checked = nonNegativeInt("due: limit", limit)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        const where = saga === undefined ? sql`due_at <= ${now}` : sql`due_at <= ${now} AND saga = ${saga}`
        return sql<TimeoutRow>`SELECT ${
          sql.literal(timeoutColumns)
        } FROM ${timeouts} WHERE ${where} ORDER BY due_at, ${text("token")} LIMIT ${checked.success}`.pipe(
          Effect.mapError(failed("due")),
          Effect.flatMap((rows) => decodeRows(rows, toTimeout))
        )
      })

    const timeoutsOf = (saga: string, id: string) =>
      sql<TimeoutRow>`SELECT ${sql.literal(timeoutColumns)} FROM ${timeouts} WHERE saga = ${saga} AND id = ${id} ORDER BY due_at, ${
        text("token")
      }`.pipe(
        Effect.mapError(failed("timeouts")),
        Effect.flatMap((rows) => decodeRows(rows, toTimeout))
      )

    const list = (query?: SagaStore.Query) =>
      Effect.suspend(() => {
        const checked = nonNegativeInt("list: limit", query?.limit ?? SagaStore.defaultLimit)
        if (Result.isFailure(checked)) return Effect.fail(checked.failure)
        const where = sql.and([
          ...(query?.saga === undefined ? [] : [sql`saga = ${query.saga}`]),
          ...(query?.status === undefined ? [] : [sql`status = ${query.status}`])
        ])
        return sql<InstanceRow>`SELECT ${sql.literal(instanceColumns)} FROM ${instances} WHERE ${where} ORDER BY updated_at, ${
          text("id")
        }, ${text("saga")} LIMIT ${checked.success}`.pipe(
          Effect.mapError(failed("list")),
          Effect.flatMap((rows) => decodeRows(rows, toInstance))
        )
      })

    // One GROUP BY over the instances table (its primary key starts with saga).
    const counts = (saga?: string) =>
      sql<{ readonly saga: string; readonly status: string; readonly n: Int }>`SELECT saga, status, count(*) AS n FROM ${instances}${
        saga === undefined ? sql`` : sql` WHERE saga = ${saga}`
      } GROUP BY saga, status`.pipe(
        Effect.mapError(failed("counts")),
        Effect.map((rows) =>
          rows.map((row): SagaStore.Count => ({ saga: row.saga, status: statusOf(row.status), count: num(row.n) }))
            .sort(SagaStore.countOrder)
        )
      )

    const history = (saga: string, id: string) =>
      sql<TransitionRow>`SELECT ${
        sql.literal(transitionColumns)
      } FROM ${transitions} WHERE saga = ${saga} AND id = ${id} ORDER BY version`.pipe(
        Effect.mapError(failed("history")),
        Effect.flatMap((rows) => decodeRows(rows, toHistory))
      )

    const finished = (before: number) => sql`status IN ${sql.in(finalStatuses)} AND updated_at < ${before}`

    // PostgreSQL: one statement, the instances first (locking them), then
    // exactly their transitions and timeouts. SQLite: one transaction (one
    // writer), the dependents first.
    const deleteFinished = (before: number) =>
      (dialect === "pg"
        ? sql<{ readonly n: Int }>`WITH __saga_d AS (
  DELETE FROM ${instances} WHERE ${finished(before)} RETURNING saga, id
), __saga_h AS (
  DELETE FROM ${transitions} __saga_t USING __saga_d WHERE __saga_t.saga = __saga_d.saga AND __saga_t.id = __saga_d.id RETURNING 1
), __saga_o AS (
  DELETE FROM ${timeouts} __saga_o USING __saga_d WHERE __saga_o.saga = __saga_d.saga AND __saga_o.id = __saga_d.id RETURNING 1
) SELECT count(*) AS n FROM __saga_d`.pipe(Effect.map((rows) => num(rows[0]!.n)))
        : sql.withTransaction(Effect.gen(function*() {
          const of = sql`(saga, id) IN (SELECT saga, id FROM ${instances} WHERE ${finished(before)})`
          yield* sql`DELETE FROM ${transitions} WHERE ${of}`
          yield* sql`DELETE FROM ${timeouts} WHERE ${of}`
          const deleted = yield* sql`DELETE FROM ${instances} WHERE ${finished(before)} RETURNING 1 AS ok`
          return deleted.length
        }))).pipe(Effect.mapError(failed("deleteFinished")))

    return SagaStore.SagaStore.of({
      kind: `sql:${dialect}`,
      load,
      processed,
      commit,
      due,
      timeouts: timeoutsOf,
      list,
      counts,
      history,
      flush: Effect.succeed(0),
      deleteFinished
    })
  })

/**
 * The SQL store as a layer, over the application's `SqlClient` and an
 * `Outbox` on the same client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SagaStore.SagaStore, SagaError.SagaError, SqlClient.SqlClient | Outbox.Outbox> =>
  Layer.effect(SagaStore.SagaStore, make(options))
