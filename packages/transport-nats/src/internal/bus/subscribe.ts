/**
 * A core NATS subscription as a scoped `Stream` of raw messages.
 *
 * @since 0.1.0
 * @internal
 */
import { TransportError } from "@herald/transport"
import type { Msg, Subscription } from "@nats-io/nats-core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as NatsConnection from "../../NatsConnection.ts"
import * as Errors from "../errors.ts"
import { validatePattern } from "./wire.ts"

/**
 * Options of {@link subscribeRaw}.
 *
 * @internal
 */
export interface Options {
  readonly queue?: string | undefined
  /** Messages kept for a slow reader; beyond it the oldest are dropped. */
  readonly bufferSize: number
}

/**
 * Subscribes to a pattern and returns what arrives as a stream. The
 * subscription is registered on the server (the connection is flushed)
 * when this returns, and is unsubscribed when the scope closes; the stream
 * ends then, or when the connection closes under it. A subscription the
 * server's permissions refuse fails with `PermissionDenied`: this effect when
 * the refusal comes before the flush's answer (it does, from the server
 * the subscription was sent to), else the stream. The nats.js callback
 * only offers to a sliding queue: a slow reader loses the oldest messages,
 * never blocks the connection.
 *
 * @internal
 */
export const subscribeRaw = (
  connection: NatsConnection.NatsConnection["Service"],
  pattern: string,
  options: Options
): Effect.Effect<Stream.Stream<Msg, TransportError.TransportError>, TransportError.TransportError, Scope.Scope> =>
  Effect.map(subscribeQueue(connection, pattern, options), Stream.fromQueue)

/**
 * {@link subscribeRaw} as the queue the subscription fills: it ends (with
 * `Cause.Done`) when the stream would, and fails when the stream would.
 *
 * @internal
 */
export const subscribeQueue = Effect.fnUntraced(function*(
  connection: NatsConnection.NatsConnection["Service"],
  pattern: string,
  options: Options
): Effect.fn.Return<
  Queue.Dequeue<Msg, TransportError.TransportError | Cause.Done>,
  TransportError.TransportError,
  Scope.Scope
> {
  const client = connection.client
  const valid = validatePattern(pattern)
  if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
  const operation = `subscribe to ${pattern}`
  const buffer = yield* Queue.sliding<Msg, TransportError.TransportError | Cause.Done>(options.bufferSize)
  let open = true
  let denied: TransportError.TransportError | undefined
  const queue = options.queue
  const subscription = yield* Effect.acquireRelease(
    Effect.try({
      try: (): Subscription =>
        client.subscribe(pattern, {
          ...(queue === undefined ? {} : { queue }),
          callback: (error, msg) => {
            if (!open) return
            // An error here is a permissions violation: the server dropped
            // the subscription. Fail the stream with it.
            if (error !== null) {
              open = false
              denied = Errors.fromUnknown(error, { operation, subject: pattern })
              Queue.failCauseUnsafe(buffer, Cause.fail(denied))
              return
            }
            Queue.offerUnsafe(buffer, msg)
          }
        }),
      catch: (e) => Errors.fromUnknown(e, { operation, subject: pattern })
    }),
    (sub) =>
      Effect.sync(() => {
        open = false
      }).pipe(
        // Unsubscribing when the connection is closed already has nothing to do.
        Effect.andThen(sub.isClosed() ? Effect.void : Effect.ignore(Effect.try(() => sub.unsubscribe()))),
        Effect.andThen(Effect.sync(() => Queue.endUnsafe(buffer)))
      )
  )
  // The stream ends when the connection closes under the subscription.
  yield* Effect.promise(() => subscription.closed).pipe(
    Effect.andThen(Effect.sync(() => Queue.endUnsafe(buffer))),
    Effect.forkScoped
  )
  // The server has the subscription once it answered a PING sent after the SUB.
  const timeoutMillis = connection.jetstreamTimeoutMillis
  yield* Effect.tryPromise({
    try: () => client.flush(),
    catch: (e) => Errors.fromUnknown(e, { operation, subject: pattern, timeoutMillis })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMillis,
      orElse: () => Effect.fail(TransportError.make(new TransportError.Timeout({ operation, millis: timeoutMillis })))
    })
  )
  if (denied !== undefined) return yield* Effect.fail(denied)
  return buffer
})
