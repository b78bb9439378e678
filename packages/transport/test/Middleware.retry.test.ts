import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, Handler, Middleware, TransportError } from "@herald/transport"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"

const incoming: Bus.Incoming = {
  subject: "orders.placed",
  envelope: Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(1)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: 0,
    body: new Uint8Array()
  })
}

const lost = TransportError.make(new TransportError.ConnectionError({ detail: "lost" }))
const bad = TransportError.make(new TransportError.DecodeError({ detail: "bad body" }))

/** A handler that fails with `failures[n]` on call n (0-based) and succeeds after them; counts its calls. */
const scripted = <E>(failures: ReadonlyArray<E>) => {
  const state = { calls: 0 }
  const handler: Handler.Handler<Bus.Incoming, E> = () =>
    Effect.suspend(() => {
      const n = state.calls++
      return n < failures.length ? Effect.fail(failures[n]!) : Effect.void
    })
  return { state, handler }
}

describe("Middleware.retry", () => {
  it.effect("retries retryable failures until the handler succeeds", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, lost])
      yield* Middleware.retry(Schedule.recurs(5))(handler)(incoming)
      expect(state.calls).toBe(3)
    }))

  it.effect("times: n retries, so n + 1 calls, then the last failure", () =>
    Effect.gen(function*() {
      const failures = [1, 2, 3, 4, 5, 6].map((n) =>
        TransportError.make(new TransportError.ConnectionError({ detail: `lost ${n}` }))
      )
      const { handler, state } = scripted(failures)
      const error = yield* Effect.flip(Middleware.retry({ times: 3 })(handler)(incoming))
      expect(state.calls).toBe(4)
      expect(error).toBe(failures[3])
    }))

  it.effect("a schedule stops it too: recurs(2) is 3 calls", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, lost, lost, lost])
      const error = yield* Effect.flip(Middleware.retry(Schedule.recurs(2))(handler)(incoming))
      expect(state.calls).toBe(3)
      expect(error).toBe(lost)
    }))

  it.effect("the smaller of times and the schedule wins", () =>
    Effect.gen(function*() {
      const a = scripted([lost, lost, lost, lost, lost])
      yield* Effect.flip(Middleware.retry({ times: 1, schedule: Schedule.recurs(3) })(a.handler)(incoming))
      expect(a.state.calls).toBe(2)
      const b = scripted([lost, lost, lost, lost, lost])
      yield* Effect.flip(Middleware.retry({ times: 3, schedule: Schedule.recurs(1) })(b.handler)(incoming))
      expect(b.state.calls).toBe(2)
    }))

  it.effect("a non-retryable failure passes through at once", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([bad])
      const error = yield* Effect.flip(Middleware.retry({ times: 5 })(handler)(incoming))
      expect(state.calls).toBe(1)
      expect(error).toBe(bad)
    }))

  it.effect("given a plain schedule, a non-retryable failure still passes through at once", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, bad, lost])
      const error = yield* Effect.flip(Middleware.retry(Schedule.recurs(5))(handler)(incoming))
      expect(state.calls).toBe(2)
      expect(error).toBe(bad)
    }))

  it.effect("stops at the first non-retryable failure after retryable ones", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, lost, bad, lost])
      const error = yield* Effect.flip(Middleware.retry({ times: 10 })(handler)(incoming))
      expect(state.calls).toBe(3)
      expect(error).toBe(bad)
    }))

  it.effect("classifies foreign failures with TransportError.isRetryable", () =>
    Effect.gen(function*() {
      const unknown = scripted([new Error("flaky"), new Error("flaky")])
      yield* Middleware.retry({ times: 5 })(unknown.handler)(incoming)
      expect(unknown.state.calls).toBe(3)
      const permanent = { _tag: "SqlError", isRetryable: false } as const
      const sql = scripted([permanent])
      expect(yield* Effect.flip(Middleware.retry({ times: 5 })(sql.handler)(incoming))).toBe(permanent)
      expect(sql.state.calls).toBe(1)
    }))

  it.effect("a HandlerFailed retries as it was classified", () =>
    Effect.gen(function*() {
      const retryable = TransportError.make(new TransportError.HandlerFailed({ detail: "x", retryable: true }))
      const fatal = TransportError.make(new TransportError.HandlerFailed({ detail: "x", retryable: false }))
      const a = scripted([retryable, retryable, retryable])
      yield* Middleware.retry({ times: 3 })(a.handler)(incoming)
      expect(a.state.calls).toBe(4)
      const b = scripted([fatal])
      yield* Effect.flip(Middleware.retry({ times: 3 })(b.handler)(incoming))
      expect(b.state.calls).toBe(1)
    }))

  it.effect("defects are not retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const handler: Handler.Handler<Bus.Incoming> = () => Effect.suspend(() => (calls++, Effect.die("bug")))
      const exit = yield* Effect.exit(Middleware.retry({ times: 5 })(handler)(incoming))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(calls).toBe(1)
    }))

  it.effect("waits as the schedule says, on the Clock", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, lost, lost])
      const fiber = yield* Effect.forkChild(
        Middleware.retry({ times: 2, schedule: Schedule.spaced("1 second") })(handler)(incoming)
      )
      yield* Effect.yieldNow
      expect(state.calls).toBe(1)
      yield* TestClock.adjust("999 millis")
      expect(state.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(state.calls).toBe(2)
      yield* TestClock.adjust("1 second")
      expect(state.calls).toBe(3)
      const exit = yield* Fiber.await(fiber)
      expect(exit).toEqual(Exit.fail(lost))
      expect(state.calls).toBe(3)
    }))

  it.effect("each call of the wrapped handler starts a fresh retry budget", () =>
    Effect.gen(function*() {
      const { handler, state } = scripted([lost, lost, lost, lost])
      const retried = Handler.pipe(handler, Middleware.retry({ times: 1 }))
      yield* Effect.flip(retried(incoming))
      expect(state.calls).toBe(2)
      yield* Effect.flip(retried(incoming))
      expect(state.calls).toBe(4)
      yield* retried(incoming)
      expect(state.calls).toBe(5)
    }))
})
