/**
 * The settlement of a failed delivery, one mechanism for every consumer
 * runner, for `pull` and for `Middleware.deadLetter`: decide
 * (`ConsumerPolicy.decide`) → store the dead letter (`DeadLetter.make`) →
 * term; else nak after the delay the policy gives.
 *
 * A dead letter that cannot be stored is not termed: the failure is logged
 * and the delivery nak'd after the delay of its delivery count, so that it
 * is tried again and nothing is lost (a caller may choose otherwise with
 * `onNotStored`).
 *
 * A transport supplies the effects (`store`, `term`, `nak`); what is decided
 * and in which order is decided here only.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ConsumerPolicy from "./ConsumerPolicy.ts"
import * as DeadLetter from "./DeadLetter.ts"
import * as TransportError from "./TransportError.ts"
import type * as Wire from "./Wire.ts"

/**
 * What settlement needs to know of a delivery.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  /** The subject the message was stored on. */
  readonly subject: string
  /** 1 on the first delivery. */
  readonly deliveryCount: number
  /** The stored message as it was read. */
  readonly original: Wire.RawMessage | DeadLetter.Original
}

/**
 * What became of a failed delivery.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Naked"; readonly delay: Duration.Duration }
  | { readonly _tag: "DeadLettered"; readonly reason: string; readonly subject: string }
  | {
    readonly _tag: "NotStored"
    readonly reason: string
    readonly subject: string
    readonly error: TransportError.TransportError
  }

/**
 * How a transport stores a dead letter and settles a delivery.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> {
  readonly target: Target
  /** The consumer's limit of deliveries (`undefined`: unlimited). */
  readonly maxDeliver: number | undefined
  /** The nak delay by delivery count. */
  readonly nakDelay: (deliveryCount: number) => Duration.Input
  /** Where the dead letter goes. */
  readonly deadLetterSubject: string
  /** The largest message the server takes (see `DeadLetter.make`). */
  readonly maxPayload?: number | undefined
  readonly store: (subject: string, letter: Wire.RawMessage) => Effect.Effect<unknown, TransportError.TransportError, R>
  readonly term: (reason: string) => Effect.Effect<void, E, R>
  readonly nak: (delay: Duration.Duration) => Effect.Effect<void, E, R>
  /** What to do when the dead letter cannot be stored (default: log it and nak after the delay). */
  readonly onNotStored?: ((error: TransportError.TransportError, delay: Duration.Duration) => Effect.Effect<void, E, R>) | undefined
}

/**
 * What a handler's failure counts as: its typed failure; an interruption or
 * a defect is a retryable `HandlerFailed`.
 *
 * @since 0.1.0
 * @category policies
 */
export const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.findError(cause)
  if (Result.isSuccess(failure)) return failure.success
  if (Cause.hasInterruptsOnly(cause)) {
    return TransportError.make(new TransportError.HandlerFailed({ detail: "handler interrupted", retryable: true }))
  }
  const defect = Cause.squash(cause)
  return TransportError.make(
    new TransportError.HandlerFailed({
      detail: `handler defect: ${TransportError.describe(defect)}`,
      retryable: true,
      cause: defect
    })
  )
}

/**
 * Stores the dead letter of a delivery with `reason`, stamped with the
 * `Clock`'s time.
 *
 * @since 0.1.0
 * @category settlement
 */
export const deadLetter = <R>(options: {
  readonly target: Target
  readonly reason: string
  readonly subject: string
  readonly maxPayload?: number | undefined
  readonly store: (subject: string, letter: Wire.RawMessage) => Effect.Effect<unknown, TransportError.TransportError, R>
}): Effect.Effect<void, TransportError.TransportError, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (failedAt) => {
    const t = options.target
    const letter = DeadLetter.make(t.original, {
      reason: options.reason,
      stream: t.stream,
      consumer: t.consumer,
      sequence: t.streamSequence,
      subject: t.subject,
      deliveryCount: t.deliveryCount,
      failedAt
    }, { maxPayload: options.maxPayload })
    return Effect.asVoid(options.store(options.subject, letter))
  })

/**
 * Settles a delivery that failed with `error` (a handler's failure, a
 * `DecodeError`): nak while the policy says so; else store the dead letter
 * and term; nak when the dead letter cannot be stored.
 *
 * @since 0.1.0
 * @category settlement
 */
export const settle = <E, R>(error: unknown, options: Options<E, R>): Effect.Effect<Outcome, E, R> =>
  Effect.suspend(() => {
    const t = options.target
    const decision = ConsumerPolicy.decide({
      error,
      deliveryCount: t.deliveryCount,
      maxDeliver: options.maxDeliver,
      nakDelay: options.nakDelay
    })
    if (decision._tag === "Nak") {
      return Effect.as(options.nak(decision.delay), { _tag: "Naked", delay: decision.delay } as Outcome)
    }
    const reason = decision.reason
    const subject = options.deadLetterSubject
    return Effect.flatMap(
      Effect.result(deadLetter({ target: t, reason, subject, maxPayload: options.maxPayload, store: options.store })),
      (stored): Effect.Effect<Outcome, E, R> => {
        if (Result.isSuccess(stored)) {
          return Effect.as(options.term(reason), { _tag: "DeadLettered", reason, subject } as Outcome)
        }
        const delay = Duration.fromInputUnsafe(options.nakDelay(t.deliveryCount))
        const onNotStored = options.onNotStored ??
          ((e: TransportError.TransportError, d: Duration.Duration) =>
            Effect.andThen(
              Effect.logError(
                `cannot dead-letter ${t.stream} sequence ${t.streamSequence} of consumer ${t.consumer} on ${subject}, nak'd instead: ${e.message}`
              ),
              options.nak(d)
            ))
        return Effect.as(onNotStored(stored.failure, delay), {
          _tag: "NotStored",
          reason,
          subject,
          error: stored.failure
        } as Outcome)
      }
    )
  })
