import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { type Bus, Envelope, Handler, Middleware, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"

const incoming: Bus.Incoming = {
  subject: "orders.eu.placed",
  envelope: Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(3)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: 0,
    body: new Uint8Array()
  })
}

describe("Middleware.timeout", () => {
  it.effect("fails a slow call with a retryable Timeout naming the type, id and subject, and interrupts it", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const slow: Handler.Handler<Bus.Incoming> = () =>
        Effect.sleep("10 seconds").pipe(
          Effect.tap(() => Effect.sync(() => void events.push("finished"))),
          Effect.onInterrupt(() => Effect.sync(() => void events.push("interrupted")))
        )
      const fiber = yield* Effect.forkChild(Middleware.timeout("5 seconds")(slow)(incoming))
      yield* TestClock.adjust("4999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
      const reason = error?._tag === "Some" ? error.value.reason : undefined
      expect(reason?._tag).toBe("Timeout")
      if (reason?._tag !== "Timeout") return
      expect(reason.millis).toBe(5000)
      expect(reason.isRetryable).toBe(true)
      expect(reason.operation).toBe(`handler of OrderPlaced ${IdGenerator.testId(3)} on orders.eu.placed`)
      expect(reason.message).toBe(
        `handler of OrderPlaced ${IdGenerator.testId(3)} on orders.eu.placed timed out after 5000 ms`
      )
      expect(events).toEqual(["interrupted"])
    }))

  it.effect("a call that finishes in time is untouched", () =>
    Effect.gen(function*() {
      let done = false
      const handler: Handler.Handler<Bus.Incoming> = () =>
        Effect.sleep("4 seconds").pipe(Effect.andThen(Effect.sync(() => void (done = true))))
      const fiber = yield* Effect.forkChild(Middleware.timeout("5 seconds")(handler)(incoming))
      yield* TestClock.adjust("4 seconds")
      expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
      expect(done).toBe(true)
    }))

  it.effect("the handler's own failure passes through", () =>
    Effect.gen(function*() {
      const bad = TransportError.make(new TransportError.DecodeError({ detail: "x" }))
      const handler: Handler.Handler<Bus.Incoming, TransportError.TransportError> = () => Effect.fail(bad)
      expect(yield* Effect.flip(Middleware.timeout("1 second")(handler)(incoming))).toBe(bad)
    }))

  it.effect("inside retry, each attempt gets its own deadline", () =>
    Effect.gen(function*() {
      let calls = 0
      // Slow on the first two calls, fast on the third.
      const handler: Handler.Handler<Bus.Incoming> = () =>
        Effect.suspend(() => (++calls < 3 ? Effect.sleep("1 minute") : Effect.void))
      const fiber = yield* Effect.forkChild(
        Handler.pipe(handler, Middleware.timeout("1 second"), Middleware.retry({ times: 5 }))(incoming)
      )
      yield* Effect.yieldNow
      expect(calls).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(calls).toBe(2)
      yield* TestClock.adjust("1 second")
      expect(calls).toBe(3)
      expect(yield* Fiber.await(fiber)).toEqual(Exit.void)
    }))

  it.effect("outside retry, one deadline bounds every attempt", () =>
    Effect.gen(function*() {
      let calls = 0
      const handler: Handler.Handler<Bus.Incoming, TransportError.TransportError> = () =>
        Effect.suspend(() => (calls++, Effect.sleep("400 millis"))).pipe(
          Effect.andThen(Effect.fail(TransportError.make(new TransportError.ConnectionError({ detail: "x" }))))
        )
      const fiber = yield* Effect.forkChild(
        Handler.pipe(handler, Middleware.retry({ times: 10 }), Middleware.timeout("1 second"))(incoming)
      )
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(fiber)
      const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
      expect(error?._tag === "Some" ? error.value.reason._tag : undefined).toBe("Timeout")
      expect(calls).toBe(3)
    }))
})
