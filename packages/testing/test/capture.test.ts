import { Bus, TransportError } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Capture from "../src/Capture.ts"
import * as Fixtures from "../src/Fixtures.ts"
import * as MemoryTransport from "../src/MemoryTransport.ts"

const orderPlaced = (n: number) => Fixtures.event("OrderPlaced", { n }, n)

describe("Capture", () => {
  it.effect("records what arrives on the pattern, in order", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const capture = yield* Capture.make("orders.>")
      assert.strictEqual(capture.pattern, "orders.>")
      yield* bus.publish("orders.created", orderPlaced(1))
      yield* bus.publish("users.created", orderPlaced(2))
      yield* bus.publish("orders.eu.shipped", orderPlaced(3))
      const got = yield* capture.waitFor(2, "1 second")
      assert.deepStrictEqual(got.map((m) => m.subject), ["orders.created", "orders.eu.shipped"])
      assert.deepStrictEqual(got.map((m) => Fixtures.json(m.envelope)), [{ n: 1 }, { n: 3 }])
      assert.deepStrictEqual((yield* capture.messages).map((m) => m.envelope.identity.messageId), [
        Fixtures.id(1),
        Fixtures.id(3)
      ])
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("waitFor returns when a later message arrives, without moving the clock", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const capture = yield* Capture.make("orders.*")
      const waiting = yield* Effect.forkChild(capture.waitFor(1, "1 minute"))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* bus.publish("orders.created", orderPlaced(1))
      const got = yield* Fiber.join(waiting)
      assert.strictEqual(got.length, 1)
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("waitFor fails with a Timeout naming the pattern, the count wanted and the count received", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const capture = yield* Capture.make("orders.>")
      yield* bus.publish("orders.created", orderPlaced(1))
      const waiting = yield* Effect.forkChild(Effect.flip(capture.waitFor(3, "2 seconds")))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(waiting)
      assert.isTrue(TransportError.isTransportError(error))
      const reason = error.reason
      assert.strictEqual(reason._tag, "Timeout")
      if (reason._tag !== "Timeout") return
      assert.strictEqual(reason.millis, 2000)
      assert.include(reason.operation, "\"orders.>\"")
      assert.include(reason.operation, "wanted 3 messages")
      assert.include(reason.operation, "got 1")
      assert.isFalse(error.message.length === 0)
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("waitFor(pattern, count, timeout) subscribes first and waits later", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const received = yield* Capture.waitFor("orders.>", 2, "1 second")
      yield* bus.publish("orders.created", orderPlaced(1))
      yield* bus.publish("orders.shipped", orderPlaced(2))
      const got = yield* received
      assert.deepStrictEqual(got.map((m) => m.subject), ["orders.created", "orders.shipped"])
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("records undecodable messages in invalid and still calls onInvalid", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const seen: Array<string> = []
      const capture = yield* Capture.make("orders.>", {
        onInvalid: (subject) => Effect.sync(() => void seen.push(subject))
      })
      yield* bus.publishRaw("orders.created", Fixtures.rawMalformed("badKind"))
      yield* bus.publish("orders.created", orderPlaced(2))
      yield* capture.waitFor(1, "1 second")
      const invalid = yield* capture.invalid
      assert.strictEqual(invalid.length, 1)
      assert.strictEqual(invalid[0]!.subject, "orders.created")
      assert.strictEqual(invalid[0]!.error.reason._tag, "DecodeError")
      assert.deepStrictEqual(seen, ["orders.created"])
      assert.strictEqual((yield* capture.messages).length, 1)
    }).pipe(Effect.provide(MemoryTransport.layer)))

  it.effect("unsubscribes when its scope closes", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      const memory = yield* MemoryTransport.MemoryTransport
      const before = yield* memory.subscriptions
      const scope = yield* Scope.make()
      const capture = yield* Scope.provide(scope)(Capture.make("orders.>"))
      assert.strictEqual(yield* memory.subscriptions, before + 1)
      yield* bus.publish("orders.created", orderPlaced(1))
      yield* capture.waitFor(1, "1 second")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* memory.subscriptions, before)
      yield* bus.publish("orders.created", orderPlaced(2))
      yield* Effect.yieldNow
      assert.strictEqual((yield* capture.messages).length, 1)
    }).pipe(Effect.provide(MemoryTransport.layer)))
})
