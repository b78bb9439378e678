/**
 * Handlers and middleware: the shape of message handling.
 *
 * A `Handler` is a function from what arrives (a `Bus.Received`, an
 * `EventLog.Delivery`, or any other `Bus.Incoming`) to an effect that succeeds
 * when the message was handled. A `Middleware` turns a handler into another
 * one (`Handler → Handler`), adding behaviour around it: decoding, retries,
 * timeouts, a circuit breaker, dedupe, dead-lettering. Middlewares are plain
 * functions, so they compose by function application or with {@link pipe}:
 *
 * ```ts
 * const handle = Handler.pipe(
 *   Middleware.decode(OrderPlaced, (order) => ship(order)),
 *   Middleware.timeout("5 seconds"),
 *   Middleware.retry({ times: 3, schedule: Schedule.exponential("100 millis") })
 * )
 * ```
 *
 * Each middleware wraps the result of the previous ones: above, every attempt
 * of `retry` gets its own 5-second timeout. The failure channel of a handler
 * is what the consumer runner sees: `TransportError.isRetryable` decides
 * between a nak (try again later) and a dead letter.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"

/**
 * Handles one message. Success means the message was handled (the runner
 * acknowledges it); a failure is classified by `TransportError.isRetryable`.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<In, E = never, R = never> = (input: In) => Effect.Effect<void, E, R>

/**
 * Turns a handler into another one over the same input. Middlewares that work
 * for any handler are generic functions
 * `<In extends Bus.Incoming, E, R>(h: Handler<In, E, R>) => Handler<In, E2, R2>`,
 * which fit this type for every `In`, `E` and `R`.
 *
 * @since 0.1.0
 * @category models
 */
export type Middleware<In, E1, R1, E2, R2> = (handler: Handler<In, E1, R1>) => Handler<In, E2, R2>

/**
 * The input type of a handler.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Input<H> = H extends (input: infer In) => Effect.Effect<void, infer _E, infer _R> ? In : never

/**
 * The failure type of a handler.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Error<H> = H extends (input: infer _In) => Effect.Effect<void, infer E, infer _R> ? E : never

/**
 * The services a handler needs.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Services<H> = H extends (input: infer _In) => Effect.Effect<void, infer _E, infer R> ? R : never

/**
 * Applies middlewares to a handler, first to last: the last middleware is the
 * outermost one. `pipe(h, a, b)` is `b(a(h))`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const pipe: {
  <H>(handler: H): H
  <H, B>(handler: H, ab: (h: H) => B): B
  <H, B, C>(handler: H, ab: (h: H) => B, bc: (b: B) => C): C
  <H, B, C, D>(handler: H, ab: (h: H) => B, bc: (b: B) => C, cd: (c: C) => D): D
  <H, B, C, D, F>(handler: H, ab: (h: H) => B, bc: (b: B) => C, cd: (c: C) => D, df: (d: D) => F): F
  <H, B, C, D, F, G>(
    handler: H,
    ab: (h: H) => B,
    bc: (b: B) => C,
    cd: (c: C) => D,
    df: (d: D) => F,
    fg: (f: F) => G
  ): G
  <H, B, C, D, F, G, I>(
    handler: H,
    ab: (h: H) => B,
    bc: (b: B) => C,
    cd: (c: C) => D,
    df: (d: D) => F,
    fg: (f: F) => G,
    gi: (g: G) => I
  ): I
  <H, B, C, D, F, G, I, J>(
    handler: H,
    ab: (h: H) => B,
    bc: (b: B) => C,
    cd: (c: C) => D,
    df: (d: D) => F,
    fg: (f: F) => G,
    gi: (g: G) => I,
    ij: (i: I) => J
  ): J
} = (handler: unknown, ...middlewares: ReadonlyArray<(h: unknown) => unknown>): any => {
  let out = handler
  for (const m of middlewares) out = m(out)
  return out
}

/**
 * Composes middlewares into one, first to last: `compose(a, b)(h)` is
 * `b(a(h))`, so `pipe(h, compose(a, b))` is `pipe(h, a, b)`. Generic
 * middlewares compose into a generic middleware.
 *
 * @since 0.1.0
 * @category combinators
 */
export const compose: {
  <H, B>(ab: (h: H) => B): (h: H) => B
  <H, B, C>(ab: (h: H) => B, bc: (b: B) => C): (h: H) => C
  <H, B, C, D>(ab: (h: H) => B, bc: (b: B) => C, cd: (c: C) => D): (h: H) => D
  <H, B, C, D, F>(ab: (h: H) => B, bc: (b: B) => C, cd: (c: C) => D, df: (d: D) => F): (h: H) => F
  <H, B, C, D, F, G>(
    ab: (h: H) => B,
    bc: (b: B) => C,
    cd: (c: C) => D,
    df: (d: D) => F,
    fg: (f: F) => G
  ): (h: H) => G
  <H, B, C, D, F, G, I>(
    ab: (h: H) => B,
    bc: (b: B) => C,
    cd: (c: C) => D,
    df: (d: D) => F,
    fg: (f: F) => G,
    gi: (g: G) => I
  ): (h: H) => I
} = (...middlewares: ReadonlyArray<(h: unknown) => unknown>): any => (handler: unknown) => {
  let out = handler
  for (const m of middlewares) out = m(out)
  return out
}
