/**
 * Bounded waiting for tests against real servers: nothing a test waits for
 * may hang it. Each helper fails the test with a defect that says what was
 * awaited, and for how long.
 *
 * ```ts
 * yield* Wait.until(log.lag("ORDERS", "billing"), (l) => l.pending === 0, "billing caught up")
 * yield* Wait.whileRunning(handle, Wait.bounded(appendAll, "60 seconds", "appending"))
 * ```
 *
 * @since 0.1.0
 */
import { type EventLog, TransportError } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * Runs `self`; when it does not finish within `bound`, dies naming `what`.
 *
 * @since 0.1.0
 * @category waiting
 */
export const bounded = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  bound: Duration.Input,
  what: string | (() => string)
): Effect.Effect<A, E, R> =>
  Effect.timeoutOrElse(self, {
    duration: bound,
    orElse: () =>
      Effect.die(
        new Error(
          `${typeof what === "string" ? what : what()}: not done within ${Duration.format(Duration.fromInputUnsafe(bound))}`
        )
      )
  })

/**
 * Runs `probe` every 50 ms until `done` holds of its value, for at most
 * `bound` (default 30 seconds). A failing probe is tried again; the
 * failure names the last value and the last error seen.
 *
 * @since 0.1.0
 * @category waiting
 */
export const until = <A, E, R>(
  probe: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  what: string,
  bound: Duration.Input = "30 seconds"
): Effect.Effect<A, never, R> => {
  let last: A | undefined = undefined
  let lastError: E | undefined = undefined
  return bounded(
    Effect.gen(function*() {
      while (true) {
        const result = yield* Effect.result(probe)
        if (result._tag === "Success") {
          last = result.success
          if (done(result.success)) return result.success
        } else lastError = result.failure
        yield* Effect.sleep("50 millis")
      }
    }),
    bound,
    () =>
      `${what}; last seen ${JSON.stringify(last)}${
        lastError === undefined ? "" : `; last error ${TransportError.describe(lastError)}`
      }`
  )
}

/**
 * Runs `self` unless the consumer runner stops first, which dies with the
 * runner's error.
 *
 * @since 0.1.0
 * @category waiting
 */
export const whileRunning = <A, E, R>(
  handle: EventLog.ConsumerHandle,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.raceFirst(
    self,
    Effect.flatMap(
      Effect.flip(handle.await),
      (e) => Effect.die(new Error(`the consumer runner stopped: ${e.reason._tag}: ${e.message}`))
    )
  )
