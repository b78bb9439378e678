/**
 * Dedupe middleware: skips a message whose id was handled successfully a
 * short while ago.
 *
 * At-least-once delivery means a message can arrive twice: redelivered after
 * an ack that was lost, or published twice by a producer that retried after
 * the stream's duplicate window. This middleware remembers, in memory, the
 * message ids (`envelope.identity.messageId`) that its handler handled
 * successfully, for `ttl` (on Effect's `Clock`). A message whose id it
 * remembers is skipped: the handler is not called and the call succeeds, so
 * the runner acknowledges it. A failed call is not remembered, so the
 * redelivery of a failed message runs the handler again.
 *
 * The memory holds at most `capacity` ids (default 10,000); when it is full
 * the oldest is forgotten. It is per process and per middleware instance:
 * for dedupe across restarts or replicas, use an idempotent handler or a
 * durable store. Two deliveries of the same id running at the same moment
 * are both handled (neither has succeeded yet).
 *
 * ```ts
 * const dedupe = yield* Middleware.dedupe({ ttl: "10 minutes" })
 * const handle = Handler.pipe(process, dedupe)
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Bus from "../Bus.ts"
import type * as Handler from "../Handler.ts"
import * as Millis from "../Millis.ts"
import * as TransportError from "../TransportError.ts"

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a handled id is remembered. */
  readonly ttl: Duration.Input
  /** Ids remembered at most; the oldest is forgotten first (default 10,000). */
  readonly capacity?: number | undefined
}

/**
 * A dedupe: a middleware (apply it to handlers) that also exposes what it
 * remembers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dedupe {
  <In extends Bus.Incoming, E, R>(handler: Handler.Handler<In, E, R>): Handler.Handler<In, E, R>
  /** The ids remembered and not yet expired. */
  readonly size: Effect.Effect<number>
  /** Whether a call with this message id would be skipped now. */
  readonly has: (messageId: string) => Effect.Effect<boolean>
  /** Forgets one id, so that its next delivery is handled. */
  readonly forget: (messageId: string) => Effect.Effect<void>
}

const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

/**
 * The default capacity.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCapacity = 10_000

/**
 * Creates a dedupe with its own, empty memory. Fails with `InvalidConfig`
 * when `ttl` is not a positive finite duration or `capacity` is not a
 * positive integer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Dedupe, TransportError.TransportError> =>
  Effect.suspend(() => {
    const capacity = options.capacity ?? defaultCapacity
    if (!(Number.isSafeInteger(capacity) && capacity > 0)) {
      return Effect.fail(invalid(`dedupe: capacity must be a positive integer, got ${capacity}`))
    }
    const ttl = Millis.decode(options.ttl, { min: 1 })
    if (Result.isFailure(ttl)) {
      return Effect.fail(invalid(`dedupe: ttl must be a positive finite duration: ${ttl.failure.message}`))
    }
    const ttlMillis = ttl.success
    return Effect.sync((): Dedupe => {
      // Message id -> when it was handled. A Map iterates in insertion order,
      // and an id is re-inserted when handled again, so the first entries are
      // the oldest.
      const handled = new Map<string, number>()
      const live = (at: number, now: number) => now - at < ttlMillis

      const sweep = (now: number) => {
        for (const [id, at] of handled) {
          if (live(at, now)) break
          handled.delete(id)
        }
      }

      const remember = (id: string, now: number) => {
        handled.delete(id)
        handled.set(id, now)
        sweep(now)
        while (handled.size > capacity) {
          const oldest = handled.keys().next()
          if (oldest.done === true) break
          handled.delete(oldest.value)
        }
      }

      const seen = (id: string, now: number): boolean => {
        const at = handled.get(id)
        if (at === undefined) return false
        if (live(at, now)) return true
        handled.delete(id)
        return false
      }

      const middleware = <In extends Bus.Incoming, E, R>(
        handler: Handler.Handler<In, E, R>
      ): Handler.Handler<In, E, R> =>
      (incoming) => {
        const id = incoming.envelope.identity.messageId
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          seen(id, now)
            ? Effect.void
            : Effect.tap(
              Effect.suspend(() => handler(incoming)),
              () => Effect.map(Clock.currentTimeMillis, (done) => remember(id, done))
            ))
      }

      return Object.assign(middleware, {
        size: Effect.map(Clock.currentTimeMillis, (now) => {
          sweep(now)
          let n = 0
          for (const at of handled.values()) if (live(at, now)) n++
          return n
        }),
        has: (messageId: string) => Effect.map(Clock.currentTimeMillis, (now) => seen(messageId, now)),
        forget: (messageId: string) => Effect.sync(() => void handled.delete(messageId))
      })
    })
  })
