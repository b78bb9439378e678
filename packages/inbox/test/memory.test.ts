/**
 * The in-memory store, with the in-memory EventLog.
 */
import { MemoryTransport, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import { Inbox, InboxMemory, InboxStore } from "../src/index.ts"
import { boom, envelope, idOf, lagOf } from "./helpers.ts"

const Live = Layer.merge(MemoryTransport.layer, InboxMemory.layer)

const entry = (n: number): InboxStore.Entry => ({
  consumer: "c",
  messageId: idOf(n),
  stream: "S",
  streamSequence: n,
  subject: "s.x",
  type: "test.Deposited",
  deliveryCount: 1
})

describe("InboxMemory", () => {
  it.effect("a message stored twice is applied once through the middleware; both copies acked", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "S", subjects: ["s.>"], duplicateWindow: "50 millis" }, Topology.deadLetterStream()],
        consumers: [{ stream: "S", name: "c" }]
      })
      const log = yield* EventLog.EventLog
      yield* log.append("s.x", envelope(1))
      yield* TestClock.adjust("80 millis") // past the duplicate window
      yield* log.append("s.x", envelope(1))
      const applied: Array<number> = []
      const handle = yield* log.consume("S", "c", Inbox.middleware()((d) => Effect.sync(() => void applied.push(d.streamSequence))))
      yield* Wait.until(handle.stats, (s) => s.acked === 2, "both acked", { advance: TestClock.adjust })
      assert.deepStrictEqual(applied, [1])
      assert.deepStrictEqual(yield* lagOf(log, "S", "c"), { pending: 0, ackPending: 0, ackFloor: 2 })
      const store = yield* InboxStore.InboxStore
      assert.strictEqual(store.guarantee, "markAfterSuccess")
      assert.strictEqual(store.kind, "memory")
    }).pipe(Effect.provide(Live)))

  it.effect("each skipped duplicate is counted in herald.inbox.duplicates, per stream and record name", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "S", subjects: ["s.>"], duplicateWindow: "50 millis" }, Topology.deadLetterStream()],
        consumers: [{ stream: "S", name: "c" }, { stream: "S", name: "d" }]
      })
      const log = yield* EventLog.EventLog
      // Message 1 stored three times, message 2 twice, message 3 once: 3 duplicates for each consumer.
      for (const n of [1, 2, 3]) yield* log.append("s.x", envelope(n))
      yield* TestClock.adjust("80 millis")
      for (const n of [1, 2]) yield* log.append("s.x", envelope(n))
      yield* TestClock.adjust("80 millis")
      yield* log.append("s.x", envelope(1))
      let applied = 0
      const handler = () => Effect.sync(() => void applied++)
      let notified = 0
      const c = yield* log.consume("S", "c", Inbox.middleware({ onDuplicate: () => Effect.sync(() => void notified++) })(handler))
      const d = yield* log.consume("S", "d", Inbox.middleware({ consumer: "projector" })(handler))
      yield* Wait.until(Effect.zip(c.stats, d.stats), ([a, b]) => a.acked === 6 && b.acked === 6, "all acked", {
        advance: TestClock.adjust
      })
      assert.strictEqual(applied, 6)
      assert.strictEqual(notified, 3)
      const count = (group: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(Inbox.duplicates, {
            "messaging.system": "nats",
            "messaging.destination.name": "S",
            "messaging.consumer.group.name": group
          })),
          (state) => state.count
        )
      assert.deepStrictEqual([yield* count("c"), yield* count("projector"), yield* count("d")], [3, 3, 0])
    }).pipe(Effect.provide(Live), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("concurrent deliveries of one message are serialized: the second waits, then is a duplicate", () =>
    Effect.gen(function*() {
      const store = yield* InboxStore.InboxStore
      const gate = yield* Deferred.make<void>()
      let runs = 0
      const effect = Effect.andThen(Effect.sync(() => void runs++), Deferred.await(gate))
      const first = yield* Effect.forkChild(store.run(entry(1), effect))
      const second = yield* Effect.forkChild(store.run(entry(1), effect))
      yield* Effect.yieldNow
      assert.strictEqual(runs, 1)
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual([yield* Fiber.join(first), yield* Fiber.join(second)], ["processed", "duplicate"])
      assert.strictEqual(runs, 1)
    }).pipe(Effect.provide(InboxMemory.layer)))

  it.effect("a failure leaves no record: a waiting delivery runs next; a later one is a duplicate", () =>
    Effect.gen(function*() {
      const store = yield* InboxStore.InboxStore
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(Effect.flip(store.run(entry(1), Effect.andThen(Deferred.await(gate), Effect.fail(boom())))))
      let ran = 0
      const second = yield* Effect.forkChild(store.run(entry(1), Effect.sync(() => void ran++)))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      const error = yield* Fiber.join(first)
      assert.strictEqual(error.reason._tag, "HandlerFailed")
      assert.strictEqual(yield* Fiber.join(second), "processed")
      assert.strictEqual(ran, 1)
      assert.strictEqual(yield* store.run(entry(1), Effect.sync(() => void ran++)), "duplicate")
      assert.strictEqual(ran, 1)
    }).pipe(Effect.provide(InboxMemory.layer)))

  it.effect("an interrupted run leaves no record", () =>
    Effect.gen(function*() {
      const store = yield* InboxStore.InboxStore
      const fiber = yield* Effect.forkChild(store.run(entry(1), Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      assert.isFalse(yield* Inbox.processed("c", idOf(1)))
      assert.strictEqual(yield* store.run(entry(1), Effect.void), "processed")
    }).pipe(Effect.provide(InboxMemory.layer)))

  it.effect("records, retention on the Clock, forget", () =>
    Effect.gen(function*() {
      const store = yield* InboxStore.InboxStore
      yield* store.run(entry(1), Effect.void)
      yield* TestClock.adjust("2 hours")
      yield* store.run(entry(2), Effect.void)
      yield* store.run({ ...entry(3), consumer: "d", type: "test.Other" }, Effect.void)
      assert.deepStrictEqual((yield* Inbox.records()).map((r) => r.messageId), [idOf(1), idOf(2), idOf(3)])
      assert.deepStrictEqual((yield* Inbox.records({ consumer: "d" })).map((r) => r.messageId), [idOf(3)])
      assert.deepStrictEqual((yield* Inbox.records({ type: "test.Deposited", limit: 1 })).map((r) => r.messageId), [idOf(1)])
      assert.deepStrictEqual((yield* Inbox.records({ since: 1 })).map((r) => r.messageId), [idOf(2), idOf(3)])
      assert.strictEqual(yield* Inbox.cleanup("1 hour"), 1)
      assert.isFalse(yield* Inbox.processed("c", idOf(1)))
      assert.isTrue(yield* Inbox.processed("c", idOf(2)))
      assert.isTrue(yield* Inbox.forget("c", idOf(2)))
      assert.isFalse(yield* Inbox.processed("c", idOf(2)))
    }).pipe(Effect.provide(InboxMemory.layer)))
})
