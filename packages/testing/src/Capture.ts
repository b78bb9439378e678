/**
 * Message capture for tests: subscribe to a subject pattern on the `Bus` and
 * keep everything that arrives, in order, until the scope closes.
 *
 * ```ts
 * const capture = yield* Capture.make("orders.>")
 * yield* bus.publish("orders.created", envelope)
 * const [first] = yield* capture.waitFor(1, "1 second")
 * ```
 *
 * A capture subscribes when {@link make} returns, so it sees only messages
 * published after that: create it before you publish. Core NATS keeps nothing
 * for latecomers.
 *
 * `waitFor` returns as soon as enough messages are there, without waiting on
 * the clock; only giving up takes time. Under `TestClock`, a `waitFor` that
 * should time out needs the clock advanced (fork it, then `TestClock.adjust`).
 *
 * @since 0.1.0
 */
import { Bus, Millis, TransportError } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * A message that arrived but was not a valid envelope (see
 * `Bus.SubscribeOptions.onInvalid`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Invalid {
  readonly subject: string
  readonly error: TransportError.TransportError
}

/**
 * A running capture.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capture {
  /** The subscribed pattern. */
  readonly pattern: string
  /** Everything received so far, in arrival order. */
  readonly messages: Effect.Effect<ReadonlyArray<Bus.Received>>
  /** Messages that could not be decoded, in arrival order. */
  readonly invalid: Effect.Effect<ReadonlyArray<Invalid>>
  /**
   * Waits until at least `count` messages were received and returns all
   * received so far. Fails with a `Timeout` reason naming the pattern, the
   * count wanted and the count received when `timeout` passes first.
   */
  readonly waitFor: (
    count: number,
    timeout: Duration.Input
  ) => Effect.Effect<ReadonlyArray<Bus.Received>, TransportError.TransportError>
}

interface Waiter {
  readonly count: number
  readonly deferred: Deferred.Deferred<void>
}

/**
 * Subscribes to `pattern` and records what arrives until the scope closes.
 * `options` are passed to `Bus.subscribe`; undecodable messages are recorded
 * in `invalid` and then given to `options.onInvalid`, if any.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  pattern: string,
  options?: Bus.SubscribeOptions
): Effect.Effect<Capture, TransportError.TransportError, Bus.Bus | Scope.Scope> =>
  Effect.gen(function*() {
    const bus = yield* Bus.Bus
    const received: Array<Bus.Received> = []
    const invalid: Array<Invalid> = []
    const waiters = new Set<Waiter>()
    const wake = Effect.suspend(() => {
      const ready = [...waiters].filter((w) => received.length >= w.count)
      return Effect.forEach(ready, (w) => Deferred.succeed(w.deferred, undefined), { discard: true })
    })
    const userOnInvalid = options?.onInvalid
    const stream = yield* bus.subscribe(pattern, {
      ...options,
      onInvalid: (subject, error) =>
        Effect.suspend(() => {
          invalid.push({ subject, error })
          return userOnInvalid === undefined ? Effect.void : userOnInvalid(subject, error)
        })
    })
    yield* Effect.forkScoped(
      Stream.runForEach(stream, (message) =>
        Effect.suspend(() => {
          received.push(message)
          return wake
        }))
    )
    const waitFor = (count: number, timeout: Duration.Input) =>
      Effect.gen(function*() {
        if (received.length >= count) return received.slice() as ReadonlyArray<Bus.Received>
        const deferred = yield* Deferred.make<void>()
        const waiter: Waiter = { count, deferred }
        waiters.add(waiter)
        if (received.length >= count) yield* Deferred.succeed(deferred, undefined)
        const done = yield* Deferred.await(deferred).pipe(
          Effect.timeoutOption(timeout),
          Effect.ensuring(Effect.sync(() => waiters.delete(waiter)))
        )
        if (Option.isNone(done)) {
          return yield* Effect.fail(
            TransportError.make(
              new TransportError.Timeout({
                operation: `Capture.waitFor on ${JSON.stringify(pattern)} (wanted ${count} message${
                  count === 1 ? "" : "s"
                }, got ${received.length})`,
                millis: Millis.orElse(timeout, 0)
              })
            )
          )
        }
        return received.slice() as ReadonlyArray<Bus.Received>
      })
    return {
      pattern,
      messages: Effect.sync(() => received.slice() as ReadonlyArray<Bus.Received>),
      invalid: Effect.sync(() => invalid.slice() as ReadonlyArray<Invalid>),
      waitFor
    } satisfies Capture
  })

/**
 * Subscribes to `pattern` now and returns the effect that waits for `count`
 * messages (see {@link Capture.waitFor}). Run the outer effect before the
 * messages are published, and the returned effect after:
 *
 * ```ts
 * const received = yield* Capture.waitFor("orders.>", 2, "1 second")
 * yield* bus.publish("orders.created", a)
 * yield* bus.publish("orders.shipped", b)
 * const messages = yield* received
 * ```
 *
 * The subscription lasts until the enclosing scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const waitFor = (
  pattern: string,
  count: number,
  timeout: Duration.Input,
  options?: Bus.SubscribeOptions
): Effect.Effect<
  Effect.Effect<ReadonlyArray<Bus.Received>, TransportError.TransportError>,
  TransportError.TransportError,
  Bus.Bus | Scope.Scope
> => Effect.map(make(pattern, options), (capture) => capture.waitFor(count, timeout))
