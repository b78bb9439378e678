/**
 * Timeout middleware: bounds how long one call of a handler may run.
 *
 * When the handler does not finish in time it is interrupted and the call
 * fails with a `TransportError` of reason `Timeout`, naming the message type,
 * id and subject. A timeout is retryable: placed inside `retry`, each attempt
 * gets its own deadline; otherwise the consumer runner naks the message and
 * it is delivered again later.
 *
 * Time is Effect's `Clock`: `TestClock` drives it in tests.
 *
 * ```ts
 * Handler.pipe(handle, Middleware.timeout("5 seconds"), Middleware.retry({ times: 2 }))
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Bus from "../Bus.ts"
import type * as Handler from "../Handler.ts"
import * as TransportError from "../TransportError.ts"

/**
 * The `operation` a handler timeout names: the message type, id and subject.
 *
 * @since 0.1.0
 * @category utils
 */
export const operation = (incoming: Bus.Incoming): string =>
  `handler of ${incoming.envelope.type} ${incoming.envelope.identity.messageId} on ${incoming.subject}`

/**
 * Interrupts the handler after `duration` and fails with a retryable
 * `Timeout`.
 *
 * @since 0.1.0
 * @category middleware
 */
export const timeout = (duration: Duration.Input) => {
  const limit = Duration.fromInputUnsafe(duration)
  const millis = Duration.toMillis(limit)
  return <In extends Bus.Incoming, E, R>(
    handler: Handler.Handler<In, E, R>
  ): Handler.Handler<In, E | TransportError.TransportError, R> =>
  (incoming) =>
    Effect.timeoutOrElse(Effect.suspend(() => handler(incoming)), {
      duration: limit,
      orElse: () =>
        Effect.fail(TransportError.make(new TransportError.Timeout({ operation: operation(incoming), millis })))
    })
}
