/**
 * Circuit-breaker middleware: stops calling a handler whose dependency keeps
 * failing, and fails fast instead.
 *
 * - **Closed** (the start): every call runs. `maxFailures` failures in a row
 *   open the breaker; a success resets the count.
 * - **Open**: calls fail at once with a retryable `CircuitOpen`, without
 *   running the handler, until `resetAfter` has passed (on Effect's `Clock`).
 * - **Half-open**: the first call after `resetAfter` runs as a trial (up to
 *   `halfOpenMax` trials at once, default 1; further calls fail with
 *   `CircuitOpen`). A trial that succeeds closes the breaker; one that fails
 *   opens it again for another `resetAfter`.
 *
 * Only failures that say something about the dependency count. By default
 * that is every retryable failure (`TransportError.isRetryable`) and every
 * defect; a non-retryable failure (a `DecodeError`: the message is bad, not
 * the dependency) and an interruption neither count nor reset the count. Pass
 * `isFailure` to decide otherwise.
 *
 * The breaker keeps its state in the value `make` returns, so create it once
 * (in a layer, say) and apply the same breaker to every handler that shares
 * the dependency. `CircuitOpen` is retryable: the consumer runner naks the
 * message and it comes back after the nak delay.
 *
 * ```ts
 * const breaker = yield* Middleware.circuitBreaker({ name: "payments", maxFailures: 5, resetAfter: "30 seconds" })
 * const handle = Handler.pipe(charge, Middleware.timeout("2 seconds"), breaker)
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Handler from "../Handler.ts"
import * as Millis from "../Millis.ts"
import * as TransportError from "../TransportError.ts"

/**
 * The state of a breaker.
 *
 * @since 0.1.0
 * @category models
 */
export type State =
  | {
    readonly _tag: "Closed"
    /** Counted failures in a row. */
    readonly failures: number
  }
  | {
    readonly _tag: "Open"
    /** When the breaker opened (Unix epoch milliseconds, `Clock` time). */
    readonly openedAt: number
    /** When the next call will be let through as a trial. */
    readonly until: number
  }
  | {
    readonly _tag: "HalfOpen"
    /** Trial calls running. */
    readonly trials: number
  }

/**
 * Options of a breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the breaker in `CircuitOpen` errors. */
  readonly name: string
  /** Counted failures in a row that open the breaker (a positive integer). */
  readonly maxFailures: number
  /** How long the breaker stays open before it lets a trial through. */
  readonly resetAfter: Duration.Input
  /** Trial calls allowed at once while half-open (default 1). */
  readonly halfOpenMax?: number | undefined
  /** Which failures count (default: retryable ones, see `TransportError.isRetryable`). */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

/**
 * A breaker: a middleware (apply it to handlers) that also exposes its state.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  <In, E, R>(handler: Handler.Handler<In, E, R>): Handler.Handler<In, E | TransportError.TransportError, R>
  readonly name: string
  /** The current state (an open breaker whose time is up still reads `Open` until the next call). */
  readonly state: Effect.Effect<State>
}

type Permit = "trial" | "closed" | "rejected"

type Outcome = "success" | "failure" | "neutral"

const closed: State = { _tag: "Closed", failures: 0 }

const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

const isPositiveInt = (n: number) => Number.isSafeInteger(n) && n > 0

/**
 * Creates a breaker with its own state, closed. Fails with `InvalidConfig`
 * when `maxFailures` or `halfOpenMax` is not a positive integer or
 * `resetAfter` is not a finite duration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<CircuitBreaker, TransportError.TransportError> =>
  Effect.suspend(() => {
    const name = options.name
    const halfOpenMax = options.halfOpenMax ?? 1
    if (!isPositiveInt(options.maxFailures)) {
      return Effect.fail(invalid(`circuit ${name}: maxFailures must be a positive integer, got ${options.maxFailures}`))
    }
    if (!isPositiveInt(halfOpenMax)) {
      return Effect.fail(invalid(`circuit ${name}: halfOpenMax must be a positive integer, got ${halfOpenMax}`))
    }
    const resetAfter = Millis.decode(options.resetAfter)
    if (Result.isFailure(resetAfter)) {
      return Effect.fail(invalid(`circuit ${name}: resetAfter must be a finite duration: ${resetAfter.failure.message}`))
    }
    const resetMillis = resetAfter.success
    const maxFailures = options.maxFailures
    const isFailure = options.isFailure ?? TransportError.isRetryable
    return Effect.map(Ref.make<State>(closed), (ref): CircuitBreaker => {
      const acquire: Effect.Effect<Permit> = Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(ref, (s): readonly [Permit, State] => {
          switch (s._tag) {
            case "Closed":
              return ["closed", s]
            case "Open":
              return now >= s.until ? ["trial", { _tag: "HalfOpen", trials: 1 }] : ["rejected", s]
            case "HalfOpen":
              return s.trials < halfOpenMax ? ["trial", { _tag: "HalfOpen", trials: s.trials + 1 }] : ["rejected", s]
          }
        }))

      const release = (permit: Permit, outcome: Outcome): Effect.Effect<void> =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(ref, (s): State => {
            const open: State = { _tag: "Open", openedAt: now, until: now + resetMillis }
            if (permit === "trial" && s._tag === "HalfOpen") {
              // A trial decides for the breaker; a neutral one frees its slot.
              return outcome === "success"
                ? closed
                : outcome === "failure"
                ? open
                : { _tag: "HalfOpen", trials: Math.max(0, s.trials - 1) }
            }
            if (s._tag !== "Closed") return s // Opened meanwhile by other calls: leave it.
            if (outcome === "success") return closed
            if (outcome === "failure") return s.failures + 1 >= maxFailures ? open : { _tag: "Closed", failures: s.failures + 1 }
            return s
          }))

      const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Outcome => {
        if (Exit.isSuccess(exit)) return "success"
        const cause = exit.cause
        if (Cause.hasInterruptsOnly(cause)) return "neutral"
        const error = Cause.findErrorOption(cause)
        if (Option.isSome(error)) return isFailure(error.value) ? "failure" : "neutral"
        return "failure" // a defect
      }

      const rejected = Effect.fail(TransportError.make(new TransportError.CircuitOpen({ name })))

      const middleware = <In, E, R>(
        handler: Handler.Handler<In, E, R>
      ): Handler.Handler<In, E | TransportError.TransportError, R> =>
      (input) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(acquire, (permit): Effect.Effect<void, E | TransportError.TransportError, R> =>
            permit === "rejected"
              ? rejected
              : Effect.onExit(restore(Effect.suspend(() => handler(input))), (exit) => release(permit, outcomeOf(exit))))
        )

      // A function's own `name` is read-only for assignment, but configurable.
      return Object.defineProperty(Object.assign(middleware, { state: Ref.get(ref) }), "name", { value: name }) as
        CircuitBreaker
    })
  })
