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
 * Options of {@link until}.
 *
 * @since 0.1.0
 * @category waiting
 */
export interface UntilOptions {
  /** How long to wait in all (default 30 seconds), on the clock the test runs on. */
  readonly bound?: Duration.Input | undefined
  /** Time between probes (default 50 ms). */
  readonly interval?: Duration.Input | undefined
  /**
   * Lets `interval` pass between probes: a real sleep by default;
   * `TestClock.adjust` against the in-memory transport under `TestClock`.
   */
  readonly advance?: ((interval: Duration.Duration) => Effect.Effect<void>) | undefined
}

/**
 * Runs `probe` until `done` holds of its value, letting `interval` pass
 * between probes, for at most `bound` (default 30 seconds). Before time
 * passes, the probe runs once more after the other fibers had their turn.
 * A failing probe is tried again; the failure names the last value and the
 * last error seen. The one polling helper of Herald's tests: under
 * `TestClock`, pass `advance: TestClock.adjust` and the bound counts test
 * time.
 *
 * @since 0.1.0
 * @category waiting
 */
export const until = <A, E, R>(
  probe: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  what: string,
  options: Duration.Input | UntilOptions = {}
): Effect.Effect<A, never, R> => {
  const opts: UntilOptions = isOptions(options) ? options : { bound: options }
  const interval = Duration.fromInputUnsafe(opts.interval ?? "50 millis")
  const advance = opts.advance ?? Effect.sleep
  let last: A | undefined = undefined
  let lastError: E | undefined = undefined
  const attempt = Effect.map(Effect.result(probe), (result) => {
    if (result._tag === "Failure") {
      lastError = result.failure
      return false
    }
    last = result.success
    return done(result.success)
  })
  return bounded(
    Effect.gen(function*() {
      while (true) {
        if (yield* attempt) return last as A
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow
        if (yield* attempt) return last as A
        yield* advance(interval)
      }
    }),
    opts.bound ?? "30 seconds",
    () =>
      `${what}; last seen ${JSON.stringify(last)}${
        lastError === undefined ? "" : `; last error ${TransportError.describe(lastError)}`
      }`
  )
}

const isOptions = (u: Duration.Input | UntilOptions): u is UntilOptions =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u) &&
  ("bound" in u || "interval" in u || "advance" in u || Object.keys(u).length === 0)

/**
 * Runs `self` unless the consumer runner stops first, which dies with the
 * runner's error. Any handle with an `await` does (a consumer's, a
 * runner's built on one).
 *
 * @since 0.1.0
 * @category waiting
 */
export const whileRunning = <A, E, R>(
  handle: Pick<EventLog.ConsumerHandle, "await">,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.raceFirst(
    self,
    Effect.flatMap(
      Effect.flip(handle.await),
      (e) => Effect.die(new Error(`the consumer runner stopped: ${e.reason._tag}: ${e.message}`))
    )
  )
