/**
 * The saga runner: feeds a saga its messages from a durable consumer
 * (`EventLog.consume`, on NATS and in memory alike) and fires its due
 * timeouts.
 *
 * ```ts
 * const runner = yield* SagaRunner.run(Checkout, { stream: "SHOP", consumer: "checkout-saga", concurrency: 8 })
 * ```
 *
 * - Each delivery is one `SagaEngine.handle`: the transition commits, then
 *   the runner acks. A retryable failure (a store failure, a conflict that
 *   lasted through every retry, a handler failure that is not a Herald
 *   error) naks the message, which comes back after the consumer's backoff;
 *   a message that cannot be decoded, or whose transition cannot be carried
 *   out, is dead-lettered with the reason.
 * - Several runners, in one process or many, may share one consumer and one
 *   store: the store's versions make concurrent transitions of one instance
 *   safe, and its record of processed messages makes redeliveries harmless.
 * - Every `timeoutInterval` (default 1 second, through `Clock`, so
 *   `TestClock` drives it), the runner appends outgoing messages its store
 *   still holds (memory and KV stores) and fires due timeouts, at most
 *   `timeoutBatch` per tick. Timeouts are rows in the store, not sleeping
 *   fibers: a stopped runner leaves them there and the next one fires them.
 * - Closing the scope stops the consumer (in-flight transitions finish or
 *   are nak'd within `shutdownTimeout`) and the timeout loop; an interrupted
 *   transition commits nothing.
 *
 * @since 0.1.0
 */
import { EventLog, type TransportError } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Saga from "./Saga.ts"
import * as SagaEngine from "./SagaEngine.ts"
import * as SagaError from "./SagaError.ts"
import * as SagaStore from "./SagaStore.ts"

/**
 * Options of `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<EventLog.ConsumeOptions, "concurrency"> {
  /** The stream holding the saga's inputs. */
  readonly stream: string
  /** The durable consumer (several runners may share it). */
  readonly consumer: string
  /** Transitions at once (default 1). Transitions of one instance are serialized by the store's versions. */
  readonly concurrency?: number | undefined
  /** How often due timeouts are fired and held messages appended (default 1 second). */
  readonly timeoutInterval?: Duration.Input | undefined
  /** At most this many timeouts per tick (default 100). */
  readonly timeoutBatch?: number | undefined
  /** See `SagaEngine.Options`. */
  readonly conflictRetries?: number | undefined
}

/**
 * Counts kept by a runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Transitions committed from messages. */
  readonly applied: number
  /** Messages the saga had processed before. */
  readonly duplicates: number
  /** Messages that changed nothing: not handled by the saga, no instance to apply to, a finished instance. */
  readonly ignored: number
  /** Transitions committed from timeouts. */
  readonly timeoutsFired: number
  /** Timeouts found cancelled or replaced when they came due. */
  readonly staleTimeouts: number
  /** Transitions applied again after another one of the same instance committed first. */
  readonly conflicts: number
  /** The consumer's own counts. */
  readonly consumer: EventLog.ConsumerStats
}

/**
 * A running saga.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  readonly stats: Effect.Effect<Stats>
  /** Fails when the consumer stops on an error it cannot recover from; never succeeds while running. */
  readonly await: Effect.Effect<never, TransportError.TransportError>
  /** Fires the timeouts due now and appends held messages, without waiting for the next tick. */
  readonly tick: Effect.Effect<void, SagaError.SagaError>
}

const positiveInt = (name: string, u: unknown): Result.Result<void, SagaError.SagaError> =>
  u === undefined || (typeof u === "number" && Number.isSafeInteger(u) && u >= 1)
    ? Result.succeed(undefined)
    : Result.fail(SagaError.invalid(`${name} must be a positive integer, got ${String(u)}`))

const checkOptions = (options: Options): Result.Result<number, SagaError.SagaError> => {
  if (typeof options.stream !== "string" || options.stream.length === 0) {
    return Result.fail(SagaError.invalid("stream must be a non-empty string"))
  }
  if (typeof options.consumer !== "string" || options.consumer.length === 0) {
    return Result.fail(SagaError.invalid("consumer must be a non-empty string"))
  }
  for (const [name, value] of [["concurrency", options.concurrency], ["timeoutBatch", options.timeoutBatch]] as const) {
    const r = positiveInt(name, value)
    if (Result.isFailure(r)) return r as Result.Result<never, SagaError.SagaError>
  }
  if (
    options.conflictRetries !== undefined &&
    !(Number.isSafeInteger(options.conflictRetries) && options.conflictRetries >= 0)
  ) {
    return Result.fail(SagaError.invalid(`conflictRetries must be a non-negative integer, got ${options.conflictRetries}`))
  }
  const interval = Duration.fromInput(options.timeoutInterval ?? "1 second")
  if (
    interval._tag === "None" || !Duration.isFinite(interval.value) || Duration.toMillis(interval.value) <= 0
  ) {
    return Result.fail(SagaError.invalid(`timeoutInterval must be a positive duration, got ${String(options.timeoutInterval)}`))
  }
  return Result.succeed(Duration.toMillis(interval.value))
}

/**
 * Runs a saga until the scope closes.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  options: Options
): Effect.Effect<
  Handle,
  SagaError.SagaError | TransportError.TransportError,
  Scope.Scope | EventLog.EventLog | SagaStore.SagaStore | R
> =>
  Effect.gen(function*() {
    yield* Effect.fromResult(Saga.validate(saga))
    const intervalMillis = yield* Effect.fromResult(checkOptions(options))
    const store = yield* SagaStore.SagaStore
    const log = yield* EventLog.EventLog
    const services = yield* Effect.context<R>()
    const engine: SagaEngine.Options = { conflictRetries: options.conflictRetries }
    const counts = { applied: 0, duplicates: 0, ignored: 0, timeoutsFired: 0, staleTimeouts: 0, conflicts: 0 }
    const count = (outcome: SagaEngine.Outcome, fromTimeout: boolean) => {
      switch (outcome._tag) {
        case "Applied":
          if (fromTimeout) counts.timeoutsFired++
          else counts.applied++
          counts.conflicts += outcome.attempts - 1
          break
        case "Duplicate":
          counts.duplicates++
          break
        case "Ignored":
          counts.ignored++
          break
        case "Stale":
          counts.staleTimeouts++
          break
      }
    }

    const batch = options.timeoutBatch ?? 100
    const tick: Effect.Effect<void, SagaError.SagaError> = Effect.gen(function*() {
      // Held messages go out first; a failing append does not hold the timeouts back.
      yield* Effect.catch(
        store.flush,
        (error) => Effect.logWarning(`saga ${saga.name}: held messages not appended yet; tried again next tick`, error)
      )
      const now = yield* Clock.currentTimeMillis
      const due = yield* store.due(now, batch, saga.name)
      for (const timeout of due) {
        yield* SagaEngine.fire(saga, timeout, engine).pipe(
          Effect.provideService(SagaStore.SagaStore, store),
          Effect.provideContext(services),
          Effect.tap((outcome) => Effect.sync(() => count(outcome, true))),
          Effect.catchCause((cause) =>
            Effect.logWarning(
              `saga ${saga.name} ${timeout.id}: timeout ${timeout.name} (${timeout.token}) failed; tried again next tick`,
              cause
            )
          )
        )
      }
    })

    yield* tick.pipe(
      Effect.catchCause((cause) => Effect.logWarning(`saga ${saga.name}: timeout tick failed`, cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(intervalMillis))),
      Effect.forkScoped
    )

    const { concurrency, stream, consumer, timeoutInterval: _, timeoutBatch: __, conflictRetries: ___, ...consume } =
      options
    const handle = yield* log.consume(
      stream,
      consumer,
      (delivery) =>
        SagaEngine.handle(saga, delivery.envelope, {
          subject: delivery.subject,
          stream: delivery.stream,
          streamSequence: delivery.streamSequence
        }, engine).pipe(
          Effect.provideService(SagaStore.SagaStore, store),
          Effect.tap((outcome) => Effect.sync(() => count(outcome, false)))
        ),
      { ...consume, concurrency: concurrency ?? 1 }
    )
    return {
      stats: Effect.map(handle.stats, (consumer) => ({ ...counts, consumer })),
      await: handle.await,
      tick
    } satisfies Handle
  })

/**
 * Runs a saga for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <S, E, R>(
  saga: Saga.Saga<S, E, R>,
  options: Options
): Layer.Layer<never, SagaError.SagaError | TransportError.TransportError, EventLog.EventLog | SagaStore.SagaStore | R> =>
  Layer.effectDiscard(run(saga, options))
