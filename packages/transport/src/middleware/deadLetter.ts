/**
 * Dead-letter middleware for `EventLog` consumers: the poison-queue pattern
 * inside the handler pipeline.
 *
 * When the handler fails in a way that retrying will not fix, the delivery is
 * dead-lettered here instead of by the consumer runner: the stored message
 * (`delivery.raw`: headers and body unchanged) is appended with
 * `EventLog.appendRaw` as a dead letter (`DeadLetter.make`, with the reason,
 * stream, consumer, sequence, subject, delivery count and the `Clock` time),
 * the delivery is termed, and the handler succeeds. The decision is
 * `Settlement.settle`, the one every runner uses, with the delivery's
 * dead-letter subject (`delivery.deadLetterSubject`: the runner's):
 *
 * - a non-retryable failure (`TransportError.isRetryable` is `false`) is
 *   dead-lettered at once;
 * - a retryable failure on delivery `maxDeliveries` or later is
 *   dead-lettered;
 * - a retryable failure before that passes through unchanged, so the runner
 *   naks it and it is delivered again.
 *
 * If the dead letter cannot be stored, the call fails with the append's
 * `TransportError`, the delivery is not termed, and the runner naks it:
 * nothing is lost. (Storing the same dead letter twice keeps one: its
 * `Nats-Msg-Id` is derived from the stream, consumer and sequence.)
 *
 * Defects and interruptions pass through.
 *
 * ```ts
 * log.consume("ORDERS", "billing", Handler.pipe(
 *   Middleware.decode(OrderPlaced, bill),
 *   Middleware.retry({ times: 2 }),
 *   Middleware.deadLetter({ maxDeliveries: 5 })
 * ))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Bus from "../Bus.ts"
import * as EventLog from "../EventLog.ts"
import type * as Handler from "../Handler.ts"
import * as Settlement from "../Settlement.ts"
import type * as TransportError from "../TransportError.ts"

/**
 * Options of `deadLetter`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where dead letters go (default: the delivery's `deadLetterSubject`, the one its runner uses). */
  readonly subject?: string | undefined
  /** The delivery on which a retryable failure is dead-lettered too (default: never; leave it to the runner). */
  readonly maxDeliveries?: number | undefined
}

/**
 * Dead-letters and terms a delivery whose handler failed non-retryably, or
 * retryably on delivery `maxDeliveries` or later; then succeeds. Fails with
 * the append's (or the term's) `TransportError` when that is not possible.
 *
 * It wraps any handler of incoming messages (a `decode` handler, say) and
 * gives a handler of `EventLog.Delivery`s.
 *
 * @since 0.1.0
 * @category middleware
 */
export const deadLetter = (options?: Options) =>
<In extends Bus.Incoming, E, R>(
  handler: Handler.Handler<In, E, R>
): Handler.Handler<In & EventLog.Delivery, E | TransportError.TransportError, R | EventLog.EventLog> =>
(delivery) =>
  Effect.catch(
    Effect.suspend(() => handler(delivery)),
    (error): Effect.Effect<void, E | TransportError.TransportError, EventLog.EventLog> =>
      Effect.asVoid(Settlement.settle<E | TransportError.TransportError, EventLog.EventLog>(error, {
        target: {
          stream: delivery.stream,
          consumer: delivery.consumer,
          streamSequence: delivery.streamSequence,
          subject: delivery.subject,
          deliveryCount: delivery.deliveryCount,
          original: delivery.raw
        },
        maxDeliver: options?.maxDeliveries,
        nakDelay: () => 0,
        deadLetterSubject: options?.subject ?? delivery.deadLetterSubject,
        store: (subject, letter) =>
          Effect.gen(function*() {
            const log = yield* EventLog.EventLog
            return yield* log.appendRaw(subject, letter)
          }),
        term: (reason) => delivery.term(reason),
        // Not settled here: the runner naks it.
        nak: () => Effect.fail(error),
        onNotStored: (e) => Effect.fail(e)
      }))
  )
