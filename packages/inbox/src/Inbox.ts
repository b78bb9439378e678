/**
 * The inbox: a message's effects applied exactly once, although JetStream
 * delivers it at least once.
 *
 * `middleware` wraps an `EventLog.consume` handler. For each delivery it asks
 * the `InboxStore` to run the handler guarded by a record keyed by
 * (consumer, message id). With the SQL store (`InboxSql`) the record and the
 * handler's own SQL writes are one transaction:
 *
 * ```ts
 * const handle = Handler.pipe(
 *   (delivery: EventLog.Delivery) =>
 *     Effect.gen(function*() {
 *       const sql = yield* SqlClient.SqlClient // the same client: joins the inbox's transaction
 *       yield* sql`UPDATE accounts SET balance = balance + 10 WHERE id = ${"a-1"}`
 *     }),
 *   Inbox.middleware()
 * )
 * yield* log.consume("PAYMENTS", "billing", handle)
 * ```
 *
 * - new message: record inserted, handler run, both committed; then the
 *   middleware's effect succeeds and the runner acks;
 * - duplicate (a redelivery, or a copy published again after the stream's
 *   dedupe window): the record exists, the handler is skipped, the middleware
 *   succeeds and the runner acks;
 * - handler failure or interruption: the transaction rolls back (no record,
 *   none of the handler's writes) and the failure propagates, so the runner
 *   naks (retryable) or dead-letters (not retryable) as usual.
 *
 * The ack is sent only after the middleware's effect succeeded, which is
 * after `COMMIT` returned. If the process dies between the commit and the
 * ack, the message comes back and is a duplicate. A failed `COMMIT` whose
 * outcome is unknown fails the middleware (`StoreError`, retryable): the
 * redelivery finds the record if the commit did happen. A failure of the
 * store (a missing table, a lost connection, a deadlock) is retryable
 * whatever the driver calls it; only a value of the message that the
 * database refuses is not (see `InboxError.StoreError`).
 *
 * Query what was processed with `processed`, `record` and `records`;
 * delete old records with `cleanup` or `retention`.
 *
 * Every duplicate the middleware skips is counted in the `Metric` counter
 * `herald.inbox.duplicates` ({@link duplicates}) of the context's metric
 * registry, with `messaging.system` = `nats`,
 * `messaging.destination.name` = the stream and
 * `messaging.consumer.group.name` = the name records are kept under: any
 * exporter of effect's metrics (the Prometheus endpoint of
 * `@herald/metrics`, OpenTelemetry) shows it.
 *
 * @since 0.1.0
 */
import { type EventLog, type Handler, Millis } from "@herald/transport"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import * as InboxError from "./InboxError.ts"
import * as InboxStore from "./InboxStore.ts"

/**
 * Options of `middleware`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MiddlewareOptions {
  /**
   * The name records are kept under (default: the delivery's durable
   * consumer). Give one name per handler when several handlers consume the
   * same messages through one consumer, or to keep records when a consumer
   * is renamed.
   */
  readonly consumer?: string | undefined
  /** Called for a duplicate, after the store skipped it (default: a debug log line). */
  readonly onDuplicate?: ((delivery: EventLog.Delivery) => Effect.Effect<void>) | undefined
}

/**
 * The entry a delivery is recorded with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const entryOf = (delivery: EventLog.Delivery, consumer?: string): InboxStore.Entry => ({
  consumer: consumer ?? delivery.consumer,
  messageId: delivery.envelope.identity.messageId,
  stream: delivery.stream,
  streamSequence: delivery.streamSequence,
  subject: delivery.subject,
  type: delivery.envelope.type,
  deliveryCount: delivery.deliveryCount
})

const logDuplicate = (delivery: EventLog.Delivery) =>
  Effect.logDebug(
    `inbox: ${delivery.stream}/${delivery.consumer} sequence ${delivery.streamSequence} (message ${delivery.envelope.identity.messageId}) already processed; skipped`
  )

/**
 * `herald.inbox.duplicates`: deliveries the middleware skipped because the
 * consumer had processed their message already (incremented once per
 * skipped delivery, whatever `onDuplicate` does).
 *
 * @since 0.1.0
 * @category metrics
 */
export const duplicates: Metric.Counter<number> = Metric.counter("herald.inbox.duplicates", {
  description: "Deliveries the inbox skipped because their message was processed already.",
  incremental: true
})

const countDuplicate = (delivery: EventLog.Delivery, consumer: string): Effect.Effect<void> =>
  Metric.update(
    Metric.withAttributes(duplicates, {
      "messaging.system": "nats",
      "messaging.destination.name": delivery.stream,
      "messaging.consumer.group.name": consumer
    }),
    1
  )

/**
 * The inbox middleware for `EventLog` handlers: runs the handler through the
 * `InboxStore` of the context, once per (consumer, message id). A duplicate
 * skips the handler and succeeds, so the runner acks it. See the module
 * documentation for the transaction boundary.
 *
 * It adds no span of its own, to keep the per-message path short: with
 * `InboxSql`, the transaction's `sql.transaction` span covers it.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (options?: MiddlewareOptions): <In extends EventLog.Delivery, E, R>(
  handler: Handler.Handler<In, E, R>
) => Handler.Handler<In, E | InboxError.InboxError, R | InboxStore.InboxStore> => {
  const consumer = options?.consumer
  const invalid = consumer !== undefined && consumer.length === 0
    ? InboxError.invalid("middleware: consumer must be a non-empty string")
    : undefined
  const onDuplicate = options?.onDuplicate ?? logDuplicate
  return <In extends EventLog.Delivery, E, R>(
    handler: Handler.Handler<In, E, R>
  ): Handler.Handler<In, E | InboxError.InboxError, R | InboxStore.InboxStore> =>
  (delivery) =>
    invalid !== undefined
      ? Effect.fail(invalid)
      : InboxStore.InboxStore.use((store) =>
        Effect.flatMap(
          store.run(entryOf(delivery, consumer), Effect.suspend(() => handler(delivery))),
          (outcome) =>
            outcome === "duplicate"
              ? Effect.andThen(countDuplicate(delivery, consumer ?? delivery.consumer), onDuplicate(delivery))
              : Effect.void
        )
      )
}

/**
 * Options of `batched`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions extends MiddlewareOptions {
  /** Deliveries per transaction, at most (default 100, at most 1,000). */
  readonly size?: number | undefined
  /**
   * How long the first delivery of a batch waits for others before the
   * batch runs without them (default 5 ms).
   */
  readonly linger?: Duration.Input | undefined
  /**
   * Batches in flight at once, each its own transaction on its own
   * connection (default 2): the next batch runs while one commits.
   */
  readonly transactions?: number | undefined
}

/**
 * The default batch size of `batched`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBatchSize = 100

/**
 * The default linger of `batched`, in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLingerMillis = 5

/**
 * The default number of batches in flight at once (`transactions`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTransactions = 2

/** A delivery waiting in a batch. */
interface Waiting {
  readonly item: InboxStore.BatchItem<unknown, unknown>
  readonly done: Deferred.Deferred<InboxStore.Outcome, unknown>
  /** `cancelled` when the caller was interrupted: not started, or interrupted where it runs. */
  readonly control: { cancelled: boolean; fiber: Fiber.Fiber<void, unknown> | undefined }
}

/**
 * The inbox middleware with batched commits: the deliveries handled at the
 * same time share one transaction, up to `size` of them, the first waiting
 * at most `linger` for the others. Each message's record and handler run in
 * a savepoint of their own: a handler that fails (or is interrupted) is
 * rolled back to its savepoint and takes the usual way (nak or dead
 * letter), the others commit. Each delivery's effect succeeds only after
 * the transaction committed, so the runner acks after the commit; a commit
 * that fails fails every delivery of the batch (`StoreError`, retryable):
 * nothing was applied, all come back.
 *
 * Run the consumer with `concurrency` at least `size`, so that batches
 * fill. Needs a store that shares a transaction among messages (`InboxSql`);
 * the batcher is a fiber of the current scope.
 *
 * ```ts
 * const inbox = yield* Inbox.batched({ size: 100, linger: "5 millis" })
 * yield* log.consume("PAYMENTS", "ledger", Handler.pipe(deposit, inbox), { concurrency: 200 })
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const batched = (
  options?: BatchOptions
): Effect.Effect<
  <In extends EventLog.Delivery, E, R>(handler: Handler.Handler<In, E, R>) => Handler.Handler<In, E | InboxError.InboxError, R>,
  InboxError.InboxError,
  InboxStore.InboxStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const consumer = options?.consumer
    if (consumer !== undefined && consumer.length === 0) {
      return yield* Effect.fail(InboxError.invalid("batched: consumer must be a non-empty string"))
    }
    const size = options?.size ?? defaultBatchSize
    if (!Number.isSafeInteger(size) || size < 1 || size > 1_000) {
      return yield* Effect.fail(InboxError.invalid(`batched: size must be an integer from 1 to 1000, got ${size}`))
    }
    const linger = options?.linger === undefined
      ? defaultLingerMillis
      : yield* Result.match(Millis.decode(options.linger, { min: 0 }), {
        onFailure: (p) => Effect.fail(InboxError.invalid(`batched: linger must be a finite duration: ${p.message}`)),
        onSuccess: Effect.succeed
      })
    const transactions = options?.transactions ?? defaultTransactions
    if (!Number.isSafeInteger(transactions) || transactions < 1 || transactions > 64) {
      return yield* Effect.fail(
        InboxError.invalid(`batched: transactions must be an integer from 1 to 64, got ${transactions}`)
      )
    }
    const onDuplicate = options?.onDuplicate ?? logDuplicate
    const store = yield* InboxStore.InboxStore
    const runBatch = store.runBatch
    if (runBatch === undefined) {
      return yield* Effect.fail(
        InboxError.invalid(`batched: the ${store.kind} store cannot share a transaction among messages; use InboxSql`)
      )
    }

    let current: Array<Waiting> = []
    let firstAt = 0
    let started = Deferred.makeUnsafe<void>()
    let full = Deferred.makeUnsafe<void>()
    let closed = false
    const running = new Set<ReadonlyArray<Waiting>>()
    const slots = yield* Semaphore.make(transactions)
    const scope = yield* Effect.scope

    const settle = (waiting: ReadonlyArray<Waiting>, exits: ReadonlyArray<Exit.Exit<InboxStore.Outcome, unknown>>) =>
      Effect.sync(() => waiting.forEach((w, i) => Deferred.doneUnsafe(w.done, exits[i]!)))

    const runLive = (live: ReadonlyArray<Waiting>) =>
      Effect.flatMap(Effect.exit(runBatch(live.map((w) => w.item))), (exits) => {
        running.delete(live)
        return Exit.isSuccess(exits)
          ? settle(live, exits.value)
          : settle(live, live.map(() => Exit.failCause(exits.cause)))
      }).pipe(Effect.ensuring(slots.release(1)))

    const next = Effect.gen(function*() {
      yield* Deferred.await(started)
      if (current.length < size) {
        const waited = (yield* Clock.currentTimeMillis) - firstAt
        if (waited < linger) yield* Effect.timeoutOption(Deferred.await(full), linger - waited)
      }
      // A free transaction; deliveries that come meanwhile join this batch.
      yield* slots.take(1)
      const waiting = current.length > size ? current.slice(0, size) : current
      current = current.length > size ? current.slice(size) : []
      started = Deferred.makeUnsafe<void>()
      full = Deferred.makeUnsafe<void>()
      if (current.length > 0) {
        firstAt = yield* Clock.currentTimeMillis
        Deferred.doneUnsafe(started, Exit.void)
        if (current.length >= size) Deferred.doneUnsafe(full, Exit.void)
      }
      const live = waiting.filter((w) => !w.control.cancelled)
      running.add(live)
      yield* Effect.forkIn(runLive(live), scope)
    })

    yield* Effect.forkScoped(
      Effect.forever(next).pipe(
        Effect.onExit(() =>
          Effect.sync(() => {
            closed = true
            for (const w of [...[...running].flat(), ...current]) Deferred.doneUnsafe(w.done, Exit.interrupt())
            current = []
          })
        )
      )
    )

    const join = Effect.fnUntraced(function*(item: InboxStore.BatchItem<unknown, unknown>) {
      if (closed) return yield* Effect.interrupt
      const control: { cancelled: boolean; fiber: Fiber.Fiber<void, unknown> | undefined } = {
        cancelled: false,
        fiber: undefined
      }
      // The effect the store runs: skipped if the caller is gone, in a fiber of its own that the caller can interrupt.
      const effect = Effect.suspend(() =>
        control.cancelled
          ? Effect.interrupt
          : Effect.flatMap(Effect.forkChild(item.effect, { startImmediately: true }), (fiber) => {
            control.fiber = fiber
            return Fiber.join(fiber)
          })
      )
      const waiting: Waiting = { item: { ...item, effect }, done: Deferred.makeUnsafe(), control }
      current.push(waiting)
      if (current.length === 1) {
        firstAt = yield* Clock.currentTimeMillis
        Deferred.doneUnsafe(started, Exit.void)
      }
      if (current.length === size) Deferred.doneUnsafe(full, Exit.void)
      return yield* Effect.onInterrupt(
        Deferred.await(waiting.done),
        () =>
          Effect.sync(() => {
            control.cancelled = true
            control.fiber?.interruptUnsafe()
          })
      )
    })

    return <In extends EventLog.Delivery, E, R>(
      handler: Handler.Handler<In, E, R>
    ): Handler.Handler<In, E | InboxError.InboxError, R> =>
    (delivery) =>
      Effect.flatMap(Effect.context<R>(), (context) =>
        Effect.flatMap(
          join({
            entry: entryOf(delivery, consumer),
            effect: Effect.suspend(() => handler(delivery)) as Effect.Effect<void, unknown, unknown>,
            context: context as Context.Context<unknown>
          }) as Effect.Effect<InboxStore.Outcome, E | InboxError.InboxError>,
          (outcome) =>
            outcome === "duplicate"
              ? Effect.andThen(countDuplicate(delivery, consumer ?? delivery.consumer), onDuplicate(delivery))
              : Effect.void
        ))
  })

/**
 * Whether a consumer processed a message.
 *
 * @since 0.1.0
 * @category queries
 */
export const processed = Effect.fn("Inbox.processed")(function*(consumer: string, messageId: string) {
  const store = yield* InboxStore.InboxStore
  return Option.isSome(yield* store.record(consumer, messageId))
})

/**
 * The record of a message a consumer processed: which stream, sequence,
 * subject and type, which delivery, and when.
 *
 * @since 0.1.0
 * @category queries
 */
export const record = Effect.fn("Inbox.record")(function*(consumer: string, messageId: string) {
  const store = yield* InboxStore.InboxStore
  return yield* store.record(consumer, messageId)
})

/**
 * Records matching a query (consumer, stream, type, time range), oldest
 * first, at most `limit` (default 100).
 *
 * @since 0.1.0
 * @category queries
 */
export const records = Effect.fn("Inbox.records")(function*(query?: InboxStore.Query) {
  const store = yield* InboxStore.InboxStore
  return yield* store.records(query)
})

/**
 * Deletes one record: the next delivery of the message is applied again.
 * For repairs; answers whether there was a record.
 *
 * @since 0.1.0
 * @category queries
 */
export const forget = Effect.fn("Inbox.forget")(function*(consumer: string, messageId: string) {
  const store = yield* InboxStore.InboxStore
  return yield* store.forget(consumer, messageId)
})

const positiveDuration = (what: string, input: Duration.Input) =>
  Result.match(Millis.decode(input, { min: 1 }), {
    onFailure: (p) => Effect.fail(InboxError.invalid(`${what} must be a positive finite duration: ${p.message}`)),
    onSuccess: Effect.succeed
  })

/**
 * Deletes the records processed more than `olderThan` ago (by Effect's
 * `Clock`); answers how many.
 *
 * Keep records longer than a message can come back: longer than the
 * stream's duplicate window plus the longest redelivery horizon (ack wait ×
 * max deliveries, backoff, a consumer stopped for maintenance) and any
 * replay you might run. A message whose record was deleted is applied again
 * if it is delivered again.
 *
 * @since 0.1.0
 * @category retention
 */
export const cleanup = Effect.fn("Inbox.cleanup")(function*(olderThan: Duration.Input) {
  const millis = yield* positiveDuration("cleanup: olderThan", olderThan)
  const store = yield* InboxStore.InboxStore
  const now = yield* Clock.currentTimeMillis
  return yield* store.deleteBefore(now - millis)
})

/**
 * Deletes the records processed before `cutoff` (Unix epoch milliseconds);
 * answers how many.
 *
 * @since 0.1.0
 * @category retention
 */
export const cleanupBefore = Effect.fn("Inbox.cleanupBefore")(function*(cutoff: number) {
  const store = yield* InboxStore.InboxStore
  return yield* store.deleteBefore(cutoff)
})

/**
 * Options of `retention`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetentionOptions {
  /** Records older than this are deleted. */
  readonly maxAge: Duration.Input
  /** How often (default: a tenth of `maxAge`, between 1 minute and 1 hour). */
  readonly every?: Duration.Input | undefined
}

/**
 * Runs `cleanup(maxAge)` now and then every `every`, in a fiber owned by
 * the current scope. A failed run is logged and the next one runs on
 * schedule. Fails at once on invalid options.
 *
 * @since 0.1.0
 * @category retention
 */
export const retention = (
  options: RetentionOptions
): Effect.Effect<void, InboxError.InboxError, InboxStore.InboxStore | Scope.Scope> =>
  Effect.gen(function*() {
    const maxAge = yield* positiveDuration("retention: maxAge", options.maxAge)
    const every = options.every === undefined
      ? Math.min(3_600_000, Math.max(60_000, Math.floor(maxAge / 10)))
      : yield* positiveDuration("retention: every", options.every)
    const store = yield* InboxStore.InboxStore
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => store.deleteBefore(now - maxAge)).pipe(
      Effect.tap((n) => n > 0 ? Effect.logDebug(`inbox retention: deleted ${n} records`) : Effect.void),
      Effect.catch((e) => Effect.logWarning(`inbox retention failed (next run in ${every} ms): ${e.message}`))
    )
    yield* Effect.forkScoped(Effect.repeat(once, Schedule.spaced(every)))
  })

/**
 * `retention` as a layer: the fiber lives as long as the layer.
 *
 * @since 0.1.0
 * @category retention
 */
export const layerRetention = (
  options: RetentionOptions
): Layer.Layer<never, InboxError.InboxError, InboxStore.InboxStore> => Layer.effectDiscard(retention(options))
