/**
 * The workers of a consumer runner: each takes deliveries from the work
 * queue in arrival order, runs the handler, and settles the delivery.
 *
 * - A handler that succeeded is acked in the background (`acks.ts`).
 * - A handler that failed, and a message that is not a valid envelope, are
 *   settled by `Settlement.settle` (nak with backoff, or dead-letter and
 *   term).
 * - A handler still running at the handler deadline is interrupted (without
 *   waiting for it to stop), a warning logged, `stats.timedOut` counted, and
 *   its delivery settled as a retryable failure (a `Timeout`). Until such a
 *   handler has stopped, the runner's state is `Stalled`.
 * - At shutdown, a handler still running is interrupted and its delivery
 *   nak'd.
 *
 * @since 0.1.0
 * @internal
 */
import { ConsumerPolicy, type EventLog, Settlement, TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Errors from "../errors.ts"
import type * as Acks from "./acks.ts"
import { storeOf, targetOf, undecodable } from "./deadLetters.ts"
import * as Delivery from "./delivery.ts"
import { maxPayloadOf } from "./env.ts"
import type { Runner } from "./runner.ts"

/**
 * The workers of `runner`: `count` fibers that run until the work queue
 * ends; anything else that stops one is a bug of the runner, which then
 * fails loudly.
 *
 * @internal
 */
export const run = <E, R>(
  runner: Runner,
  acks: Acks.Confirmations,
  handler: (delivery: EventLog.Delivery) => Effect.Effect<void, E, R>,
  count: number
): Effect.Effect<void, never, R> => {
  const { consumer, env, stream } = runner.config
  const label = runner.label
  const stats = runner.stats
  const nakDelay = (n: number): Duration.Input =>
    runner.config.nakDelay === undefined
      ? ConsumerPolicy.defaultNakDelay(runner.settings.config, n)
      : runner.config.nakDelay(n)

  const counted = (settlement: Delivery.Settlement) => {
    stats[settlement]++
  }
  const ackConfirmed = () => {
    stats.acked++
  }

  const logSettleError = (what: string, sequence: number) => (e: TransportError.TransportError) =>
    Effect.logWarning(`${label}: ${what} of sequence ${sequence} failed (redelivered after the ack wait): ${e.message}`)

  const settleFailure = (handle: Delivery.Handle, error: unknown) =>
    Effect.gen(function*() {
      const outcome = yield* Settlement.settle(error, {
        target: targetOf(handle.received),
        maxDeliver: runner.settings.maxDeliver,
        nakDelay,
        deadLetterSubject: runner.deadLetterSubject(),
        maxPayload: maxPayloadOf(env),
        store: storeOf(env),
        term: (reason) => handle.delivery.term(reason),
        nak: (delay) => handle.delivery.nak(delay)
      })
      if (outcome._tag === "DeadLettered") stats.deadLettered++
    })

  /** Settles a delivery whose handler ended (unless the handler settled it itself). */
  const settle = (handle: Delivery.Handle, exit: Exit.Exit<void, E>): Effect.Effect<void> => {
    const sequence = handle.delivery.streamSequence
    if (Exit.isSuccess(exit)) {
      // Acked in the background: counted once the server confirms it.
      if (!handle.claim()) return Effect.void
      return Effect.catch(acks.ack(handle.received, ackConfirmed), (e) => {
        handle.unclaim()
        return logSettleError("ack", sequence)(e)
      })
    }
    if (handle.isSettled()) return Effect.void
    return Effect.catch(settleFailure(handle, Settlement.failureOf(exit.cause)), logSettleError("settlement", sequence))
  }

  /**
   * A handler interrupted at its deadline that has not stopped by the next
   * turn (it ignores or delays interruption) stalls the runner until it
   * stops.
   */
  const overdueUntilStopped = (fiber: Fiber.Fiber<void, E>, detail: string) =>
    Effect.andThen(
      Effect.yieldNow,
      Effect.sync(() => {
        if (fiber.pollUnsafe() !== undefined) return
        const release = runner.tracker.overdue(detail)
        fiber.addObserver(release)
      })
    )

  /** The handler ran past its deadline: interrupted (not awaited), settled as a retryable `Timeout`. */
  const timedOut = (handle: Delivery.Handle, fiber: Fiber.Fiber<void, E>, startedAt: number, deadline: number) =>
    Effect.gen(function*() {
      fiber.interruptUnsafe()
      stats.timedOut++
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      const sequence = handle.delivery.streamSequence
      yield* overdueUntilStopped(fiber, `handler of stream sequence ${sequence} past its deadline of ${deadline} ms has not stopped`)
      yield* Effect.logWarning(
        `${label}: handler of stream sequence ${sequence} (delivery ${handle.delivery.deliveryCount}) still running after ${elapsed} ms (deadline ${deadline} ms); interrupted`
      )
      if (handle.isSettled()) return
      const error = TransportError.make(
        new TransportError.Timeout({ operation: `handler of ${stream}/${consumer} sequence ${sequence}`, millis: deadline })
      )
      yield* Effect.catch(settleFailure(handle, error), logSettleError("settlement", sequence))
    })

  const finished = Effect.sync(() => {
    stats.inFlight--
    runner.release()
  })

  const process = (received: Delivery.Received): Effect.Effect<void, never, R> =>
    Effect.uninterruptibleMask((restore) => {
      const decoded = Delivery.decode(received, runner.config.foreign)
      if (Result.isFailure(decoded)) {
        return Effect.map(
          undecodable(env, received, decoded.failure, {
            settings: runner.settings,
            deadLetterSubject: runner.deadLetterSubject(),
            nakDelay
          }),
          (outcome) => {
            if (outcome === "deadLettered") {
              stats.deadLettered++
              stats.termed++
            } else if (outcome === "naked") stats.naked++
            runner.release()
          }
        )
      }
      stats.inFlight++
      const handle = Delivery.make(env.settle, received, decoded.success, runner.deadLetterSubject(), counted)
      // (Suspended: a handler that throws is a defect of its own fiber, a retryable failure.)
      // Started at once: a handler that does not wait for anything is done
      // before the worker goes on, with no hop through the scheduler (the
      // worker then takes the next delivery in the same turn, and the acks
      // of that turn leave in one socket write).
      const fork = Effect.forkChild(Effect.suspend(() => handler(handle.delivery)), { startImmediately: true })
      return Effect.flatMap(fork, (fiber) => {
        const done = fiber.pollUnsafe()
        if (done !== undefined) return Effect.andThen(settle(handle, done), finished)
        const deadline = runner.handlerDeadlineMillis()
        const awaited = deadline === undefined
          ? Effect.map(Fiber.await(fiber), Option.some)
          : Effect.timeoutOption(Fiber.await(fiber), deadline)
        return Effect.flatMap(Clock.currentTimeMillis, (startedAt) =>
          Effect.flatMap(Effect.exit(restore(awaited)), (result) => {
            if (Exit.isSuccess(result)) {
              return Option.isSome(result.value)
                ? Effect.andThen(settle(handle, result.value.value), finished)
                : Effect.andThen(timedOut(handle, fiber, startedAt, deadline!), finished)
            }
            // Shutdown: stop the handler and give the message back.
            return Fiber.interrupt(fiber).pipe(
              Effect.andThen(
                handle.isSettled()
                  ? Effect.void
                  : Effect.catch(handle.delivery.nak(), logSettleError("nak", handle.delivery.streamSequence))
              ),
              Effect.andThen(finished),
              Effect.andThen(Effect.interrupt)
            )
          }))
      })
    })

  // (No yield after each delivery: a worker runs until its queue is empty, or
  // until the runtime's op budget makes it yield, so that the acks of the
  // deliveries that arrived together leave together.)
  const worker = Effect.forever(Effect.flatMap(Queue.take(runner.work), process), { disableYield: true }).pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
      const failure = Cause.findError(cause)
      if (Result.isSuccess(failure) && Cause.isDone(failure.success)) return Effect.void
      return runner.fail(
        Errors.fromUnknown(Cause.squash(cause), { operation: `consume ${stream}/${consumer}`, stream, consumer })
      )
    })
  )

  return Effect.all(Array.from({ length: count }, () => worker), { concurrency: "unbounded", discard: true })
}
