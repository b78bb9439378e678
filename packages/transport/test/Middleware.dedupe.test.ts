import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, type Handler, Middleware, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"

const incoming = (n: number): Bus.Incoming => ({
  subject: "orders.placed",
  envelope: Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: 0,
    body: new Uint8Array()
  })
})

/** Records the message numbers it handles; fails while `fail` is set. */
const recording = () => {
  const state = { handled: [] as Array<string>, fail: false }
  const handler: Handler.Handler<Bus.Incoming, TransportError.TransportError> = (input) =>
    Effect.suspend(() => {
      state.handled.push(input.envelope.identity.messageId.slice(-1))
      return state.fail
        ? Effect.fail(TransportError.make(new TransportError.ConnectionError({ detail: "down" })))
        : Effect.void
    })
  return { state, handler }
}

describe("Middleware.dedupe", () => {
  it.effect("a message id handled within the TTL is skipped: the handler is not called and the call succeeds", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "1 minute" })
      const { handler, state } = recording()
      const handle = dedupe(handler)
      yield* handle(incoming(1))
      yield* handle(incoming(1))
      yield* handle(incoming(2))
      yield* handle(incoming(1))
      yield* handle(incoming(2))
      expect(state.handled).toEqual(["1", "2"])
      expect(yield* dedupe.size).toBe(2)
      expect(yield* dedupe.has(IdGenerator.testId(1))).toBe(true)
      expect(yield* dedupe.has(IdGenerator.testId(3))).toBe(false)
    }))

  it.effect("an id is forgotten when the TTL has passed", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "10 seconds" })
      const { handler, state } = recording()
      const handle = dedupe(handler)
      yield* handle(incoming(1))
      yield* TestClock.adjust("9999 millis")
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1"])
      yield* TestClock.adjust("1 millis")
      expect(yield* dedupe.has(IdGenerator.testId(1))).toBe(false)
      expect(yield* dedupe.size).toBe(0)
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1", "1"])
      // Handled again: remembered from now on.
      yield* TestClock.adjust("5 seconds")
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1", "1"])
    }))

  it.effect("the TTL runs from when the handler finished", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "10 seconds" })
      let calls = 0
      const handle = dedupe((_: Bus.Incoming) => Effect.sleep("5 seconds").pipe(Effect.andThen(Effect.sync(() => calls++))))
      const fiber = yield* Effect.forkChild(handle(incoming(1)))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      yield* TestClock.adjust("9 seconds")
      expect(yield* dedupe.has(IdGenerator.testId(1))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* dedupe.has(IdGenerator.testId(1))).toBe(false)
      expect(calls).toBe(1)
    }))

  it.effect("a failed attempt is not remembered, so the redelivery runs the handler", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "1 minute" })
      const { handler, state } = recording()
      const handle = dedupe(handler)
      state.fail = true
      const error = yield* Effect.flip(handle(incoming(1)))
      expect(error.reason._tag).toBe("ConnectionError")
      expect(yield* dedupe.has(IdGenerator.testId(1))).toBe(false)
      state.fail = false
      yield* handle(incoming(1))
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1", "1"])
    }))

  it.effect("at capacity the oldest id is forgotten", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "1 hour", capacity: 2 })
      const { handler, state } = recording()
      const handle = dedupe(handler)
      yield* handle(incoming(1))
      yield* handle(incoming(2))
      yield* handle(incoming(3)) // forgets 1
      expect(yield* dedupe.size).toBe(2)
      yield* handle(incoming(3))
      yield* handle(incoming(2))
      expect(state.handled).toEqual(["1", "2", "3"])
      yield* handle(incoming(1)) // handled again, forgets 2
      expect(state.handled).toEqual(["1", "2", "3", "1"])
      yield* handle(incoming(3))
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1", "2", "3", "1"])
      yield* handle(incoming(2))
      expect(state.handled).toEqual(["1", "2", "3", "1", "2"])
    }))

  it.effect("forget makes the next delivery run", () =>
    Effect.gen(function*() {
      const dedupe = yield* Middleware.dedupe({ ttl: "1 hour" })
      const { handler, state } = recording()
      const handle = dedupe(handler)
      yield* handle(incoming(1))
      yield* dedupe.forget(IdGenerator.testId(1))
      yield* handle(incoming(1))
      expect(state.handled).toEqual(["1", "1"])
    }))

  it.effect("each dedupe has its own memory; handlers wrapped by one share it", () =>
    Effect.gen(function*() {
      const a = yield* Middleware.dedupe({ ttl: "1 hour" })
      const b = yield* Middleware.dedupe({ ttl: "1 hour" })
      const first = recording()
      const second = recording()
      yield* a(first.handler)(incoming(1))
      yield* a(second.handler)(incoming(1))
      yield* b(second.handler)(incoming(1))
      expect(first.state.handled).toEqual(["1"])
      expect(second.state.handled).toEqual(["1"])
    }))

  it.effect("invalid options fail with InvalidConfig", () =>
    Effect.gen(function*() {
      const invalid: ReadonlyArray<Middleware.Dedupe.Options> = [
        { ttl: 0 },
        { ttl: "Infinity" },
        { ttl: "later" as never },
        { ttl: "1 minute", capacity: 0 },
        { ttl: "1 minute", capacity: 2.5 }
      ]
      for (const options of invalid) {
        const error = yield* Effect.flip(Middleware.dedupe(options))
        expect(error.reason._tag).toBe("InvalidConfig")
      }
    }))
})
